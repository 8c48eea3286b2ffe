//! Dockerfile words: quote-aware splitting of an instruction's arguments
//! into words whose `$VAR` / `${VAR}` references are kept as segments, so
//! they are expanded later (once ENV and ARG values are known) without the
//! values ever being re-split, as Docker does.

/// One part of a word: literal text or a variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Var { name: String, modifier: Modifier },
}

/// `${NAME:-word}` / `${NAME:+word}`; `None` for `$NAME` and `${NAME}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    None,
    /// `${NAME:-word}`: `word` when NAME is unset or empty.
    Default(String),
    /// `${NAME:+word}`: `word` when NAME is set and not empty, else empty.
    Alternative(String),
}

/// A word of an instruction's arguments, quotes removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Word {
    pub segments: Vec<Segment>,
}

/// Why arguments could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WordsError {
    #[error("unterminated {0} quote")]
    UnterminatedQuote(&'static str),
    #[error("unterminated '${{' variable reference")]
    UnterminatedVariable,
    #[error("invalid variable reference '${{{0}}}'")]
    InvalidVariable(String),
}

impl Word {
    /// The word with every variable replaced by `lookup`'s value (unset: empty).
    pub fn expand(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var { name, modifier } => {
                    let value = lookup(name).filter(|v| !v.is_empty());
                    match (modifier, value) {
                        (Modifier::None, v) => out.push_str(&v.unwrap_or_default()),
                        (Modifier::Default(_), Some(v)) => out.push_str(&v),
                        (Modifier::Default(word), None) => out.push_str(word),
                        (Modifier::Alternative(word), Some(_)) => out.push_str(word),
                        (Modifier::Alternative(_), None) => {}
                    }
                }
            }
        }
        out
    }

    /// The word's text when it has no variables.
    pub fn literal(&self) -> Option<String> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(t) => Some(t.as_str()),
                Segment::Var { .. } => None,
            })
            .collect()
    }

    /// Splits off `KEY=` at the first `=` of the word's literal start:
    /// `(key, value)`, or `None` when the word does not start `KEY=`.
    pub fn split_assignment(&self) -> Option<(String, Word)> {
        let Some(Segment::Literal(first)) = self.segments.first() else {
            return None;
        };
        let (key, rest) = first.split_once('=')?;
        let mut segments = Vec::with_capacity(self.segments.len());
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        segments.extend(self.segments[1..].iter().cloned());
        Some((key.to_owned(), Word { segments }))
    }

    fn push_char(&mut self, c: char) {
        if let Some(Segment::Literal(text)) = self.segments.last_mut() {
            text.push(c);
        } else {
            self.segments.push(Segment::Literal(c.to_string()));
        }
    }
}

/// Splits `text` at unquoted whitespace. `"..."` keeps spaces and allows
/// `\"`, `\\`, `\$`; `'...'` is literal; `\` outside quotes escapes the next
/// character. `$NAME`, `${NAME}`, `${NAME:-w}`, `${NAME:+w}` become
/// variable segments outside single quotes; any other `$` is literal.
pub fn split(text: &str) -> Result<Vec<Word>, WordsError> {
    let mut words = Vec::new();
    let mut word = Word::default();
    let mut started = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\\' => {
                started = true;
                word.push_char(chars.next().unwrap_or('\\'));
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push_char(c),
                        None => return Err(WordsError::UnterminatedQuote("single")),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&e @ ('"' | '\\' | '$')) => {
                                chars.next();
                                word.push_char(e);
                            }
                            _ => word.push_char('\\'),
                        },
                        Some('$') => variable(&mut chars, &mut word)?,
                        Some(c) => word.push_char(c),
                        None => return Err(WordsError::UnterminatedQuote("double")),
                    }
                }
            }
            '$' => {
                started = true;
                variable(&mut chars, &mut word)?;
            }
            c => {
                started = true;
                word.push_char(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// After a `$`: a variable reference, or a literal `$` when none follows.
fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut Word,
) -> Result<(), WordsError> {
    match chars.peek() {
        Some('{') => {
            chars.next();
            let mut inner = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(c) => inner.push(c),
                    None => return Err(WordsError::UnterminatedVariable),
                }
            }
            word.segments.push(braced(&inner)?);
        }
        Some(&c) if is_name_start(c) => {
            let mut name = String::new();
            while let Some(&c) = chars.peek().filter(|c| is_name_char(**c)) {
                name.push(c);
                chars.next();
            }
            word.segments.push(Segment::Var {
                name,
                modifier: Modifier::None,
            });
        }
        _ => word.push_char('$'),
    }
    Ok(())
}

/// The inside of `${...}`.
fn braced(inner: &str) -> Result<Segment, WordsError> {
    let end = inner.find(|c| !is_name_char(c)).unwrap_or(inner.len());
    let (name, rest) = inner.split_at(end);
    let valid_name = name.chars().next().is_some_and(is_name_start);
    let modifier = if rest.is_empty() {
        Modifier::None
    } else if let Some(word) = rest.strip_prefix(":-") {
        Modifier::Default(word.to_owned())
    } else if let Some(word) = rest.strip_prefix(":+") {
        Modifier::Alternative(word.to_owned())
    } else {
        return Err(WordsError::InvalidVariable(inner.to_owned()));
    };
    if !valid_name {
        return Err(WordsError::InvalidVariable(inner.to_owned()));
    }
    Ok(Segment::Var {
        name: name.to_owned(),
        modifier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_all(text: &str, vars: &[(&str, &str)]) -> Vec<String> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        split(text)
            .unwrap()
            .iter()
            .map(|w| w.expand(&lookup))
            .collect()
    }

    #[test]
    fn split_when_quotes_and_escapes_then_one_word_each() {
        let words = expand_all(r#"a "b c" 'd $X' e\ f "g\"h" """#, &[("X", "x")]);
        assert_eq!(words, ["a", "b c", "d $X", "e f", "g\"h", ""]);
    }

    #[test]
    fn expand_when_value_has_spaces_then_not_resplit() {
        let words = expand_all(
            "$A/${B} ${C:-dflt} ${A:+alt} ${C:+alt}",
            &[("A", "x y"), ("B", "z")],
        );
        assert_eq!(words, ["x y/z", "dflt", "alt", ""]);
    }

    #[test]
    fn split_when_dollar_without_name_then_literal() {
        assert_eq!(expand_all("a$ $1 $-", &[]), ["a$", "$1", "$-"]);
    }

    #[test]
    fn split_when_unterminated_then_error_names_it() {
        assert_eq!(split("\"abc"), Err(WordsError::UnterminatedQuote("double")));
        assert_eq!(split("'abc"), Err(WordsError::UnterminatedQuote("single")));
        assert_eq!(split("${abc"), Err(WordsError::UnterminatedVariable));
        assert!(matches!(
            split("${a?b}"),
            Err(WordsError::InvalidVariable(_))
        ));
        assert!(matches!(split("${}"), Err(WordsError::InvalidVariable(_))));
    }

    #[test]
    fn split_assignment_when_key_value_then_value_keeps_variables() {
        let word = &split("PATH=/opt/bin:$PATH").unwrap()[0];
        let (key, value) = word.split_assignment().unwrap();
        assert_eq!(key, "PATH");
        assert_eq!(value.expand(&|_| Some("/bin".into())), "/opt/bin:/bin");
        assert!(split("$K=v").unwrap()[0].split_assignment().is_none());
    }
}
