package wrenn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func writeConfig(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfig_argumentBeatsEnvironmentBeatsFile(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "api_url = \"http://file:1\"\napi_key = \"wrn_file\"\n")
	e := env(map[string]string{"WRENN_CONFIG_DIR": dir, "WRENN_API_KEY": "wrn_env", "WRENN_BASE_URL": "http://env:2"})

	r, err := resolve("wrn_arg", "http://arg:3/", e)
	if err != nil || r.apiKey != "wrn_arg" || r.baseURL != "http://arg:3" {
		t.Fatalf("args: %+v %v", r, err)
	}
	r, _ = resolve("", "", e)
	if r.apiKey != "wrn_env" || r.baseURL != "http://env:2" {
		t.Fatalf("env: %+v", r)
	}
	r, _ = resolve("", "", env(map[string]string{"WRENN_CONFIG_DIR": dir}))
	if r.apiKey != "wrn_file" || r.baseURL != "http://file:1" {
		t.Fatalf("file: %+v", r)
	}
}

func TestConfig_cliApiUrlVariable_andDefault(t *testing.T) {
	r, _ := resolve("k", "", env(map[string]string{"WRENN_API_URL": "http://cli:4"}))
	if r.baseURL != "http://cli:4" {
		t.Fatal(r.baseURL)
	}
	r, _ = resolve("k", "", env(nil))
	if r.baseURL != DefaultBaseURL {
		t.Fatal(r.baseURL)
	}
}

func TestConfig_fileTokenUsedWithoutApiKey_inXdgDir(t *testing.T) {
	xdg := t.TempDir()
	writeConfig(t, filepath.Join(xdg, "wrenn"), "# written by wrenn login\ntoken = 'eyJ.jwt'\n[other]\napi_key = 5\n")
	r, err := resolve("", "", env(map[string]string{"XDG_CONFIG_HOME": xdg, "HOME": "/nonexistent"}))
	if err != nil || r.apiKey != "eyJ.jwt" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestConfig_homeDotConfig(t *testing.T) {
	home := t.TempDir()
	writeConfig(t, filepath.Join(home, ".config", "wrenn"), `api_key = "wrn_home"`)
	r, err := resolve("", "", env(map[string]string{"HOME": home}))
	if err != nil || r.apiKey != "wrn_home" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestConfig_noKey_isClearError(t *testing.T) {
	_, err := NewClient(withGetenv(env(map[string]string{"HOME": t.TempDir()})))
	if !errors.Is(err, ErrNoAPIKey) {
		t.Fatalf("%v", err)
	}
}

func TestConfig_tomlEscapes(t *testing.T) {
	k, v, ok := parseTOMLLine(`api_key = "a\"b" # comment`)
	if !ok || k != "api_key" || v != `a"b` {
		t.Fatalf("%q %q %v", k, v, ok)
	}
}
