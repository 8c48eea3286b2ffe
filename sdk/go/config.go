package wrenn

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultBaseURL is the control plane's address when nothing else is set.
const DefaultBaseURL = "http://127.0.0.1:8000"

// fileConfig is what the CLI's config.toml holds.
type fileConfig struct {
	APIURL string
	APIKey string
	Token  string
}

// configDir is $WRENN_CONFIG_DIR, else $XDG_CONFIG_HOME/wrenn, else
// ~/.config/wrenn (the CLI's resolution); "" when none can be found.
func configDir(getenv func(string) string) string {
	if d := getenv("WRENN_CONFIG_DIR"); d != "" {
		return d
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "wrenn")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "wrenn")
	}
	return ""
}

// loadFileConfig reads dir/config.toml; a missing file is an empty config.
func loadFileConfig(dir string) (fileConfig, error) {
	var fc fileConfig
	if dir == "" {
		return fc, nil
	}
	f, err := os.Open(filepath.Join(dir, "config.toml"))
	if errors.Is(err, fs.ErrNotExist) {
		return fc, nil
	}
	if err != nil {
		return fc, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := parseTOMLLine(sc.Text())
		if !ok {
			continue
		}
		switch key {
		case "api_url":
			fc.APIURL = val
		case "api_key":
			fc.APIKey = val
		case "token":
			fc.Token = val
		}
	}
	return fc, sc.Err()
}

// parseTOMLLine reads a top-level `key = "string"` line, the only form the
// CLI writes; anything else (tables, comments, other types) is skipped.
func parseTOMLLine(line string) (key, val string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == '[' {
		return "", "", false
	}
	k, v, found := strings.Cut(line, "=")
	if !found {
		return "", "", false
	}
	key = strings.Trim(strings.TrimSpace(k), `"`)
	v = strings.TrimSpace(v)
	switch {
	case strings.HasPrefix(v, `"`):
		end := closingQuote(v)
		if end < 0 {
			return "", "", false
		}
		s, err := strconv.Unquote(v[:end+1])
		if err != nil {
			return "", "", false
		}
		return key, s, true
	case strings.HasPrefix(v, `'`):
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", "", false
		}
		return key, v[1 : end+1], true
	}
	return "", "", false
}

func closingQuote(v string) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// resolved is the configuration a client runs with.
type resolved struct {
	apiKey  string
	baseURL string
}

// resolve applies the order: argument, environment, config file, default.
func resolve(argKey, argURL string, getenv func(string) string) (resolved, error) {
	var r resolved
	fc, err := loadFileConfig(configDir(getenv))
	if err != nil {
		return r, err
	}
	r.apiKey = firstNonEmpty(argKey, getenv("WRENN_API_KEY"), fc.APIKey, fc.Token)
	r.baseURL = firstNonEmpty(argURL, getenv("WRENN_BASE_URL"), getenv("WRENN_API_URL"), fc.APIURL, DefaultBaseURL)
	r.baseURL = strings.TrimRight(r.baseURL, "/")
	if r.apiKey == "" {
		return r, ErrNoAPIKey
	}
	return r, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
