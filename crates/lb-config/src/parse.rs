//! Parsing: the file's text into a `config` value tree, with the position of
//! syntax errors.

use std::path::Path;

use config::{FileFormat, Map, Value, ValueKind};

use crate::Diagnostic;

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
}

// === impl Format ===

impl Format {
    /// The format of a file, by its extension; `None` for other extensions.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    pub(crate) fn file_format(self) -> FileFormat {
        match self {
            Self::Toml => FileFormat::Toml,
            Self::Yaml => FileFormat::Yaml,
            Self::Json => FileFormat::Json,
        }
    }
}

/// Parses the file into a `config` value tree (keys keep their case).
pub(crate) fn parse(text: &str, format: Format, file: &str) -> Result<Value, Diagnostic> {
    // The toml crate reports the position of syntax errors (duplicate keys
    // included) precisely; config wraps the message without it.
    if format == Format::Toml {
        if let Err(e) = text.parse::<toml::Table>() {
            let mut message = format!("invalid TOML: {}", e.message().trim());
            let mut d = Diagnostic::error(file, "", "");
            if let Some(span) = e.span() {
                let (line, column) = line_column(text, span.start);
                d.line = Some(line);
                d.column = Some(column);
                if let Some(source) = text.lines().nth(line - 1).map(str::trim) {
                    message.push_str(&format!(" (in `{source}`)"));
                }
            }
            d.message = message;
            return Err(d);
        }
    }
    // serde_json keeps the last of duplicate keys silently; reject them, with
    // their position, as TOML and YAML do.
    if format == Format::Json {
        if let Err(e) = serde_json::from_str::<NoDuplicates>(text) {
            let mut d = Diagnostic::error(file, "", format!("invalid JSON: {e}"));
            if e.line() > 0 {
                let text = e.to_string();
                let message = text.split(" at line ").next().unwrap_or(&text);
                d.message = format!("invalid JSON: {message}");
                d.line = Some(e.line());
                d.column = Some(e.column());
            }
            return Err(d);
        }
    }
    let built = config::Config::builder()
        .add_source(config::File::from_str(text, format.file_format()))
        .build()
        .and_then(|c| c.try_deserialize::<Map<String, Value>>());
    match built {
        Ok(map) => Ok(Value::new(None, ValueKind::Table(map))),
        Err(e) => Err(syntax_error(file, format, &e.to_string())),
    }
}

/// A parse error from config's message, with the line and column moved from
/// the message (`... at line 3 column 5`) into the diagnostic.
fn syntax_error(file: &str, format: Format, message: &str) -> Diagnostic {
    let what = match format {
        Format::Toml => "invalid TOML",
        Format::Yaml => "invalid YAML",
        Format::Json => "invalid JSON",
    };
    let mut d = Diagnostic::error(file, "", format!("{what}: {message}"));
    let re = regex::Regex::new(r"^(.*?)(?: at byte \d+)? (?:at )?line (\d+),? column (\d+)(.*)$");
    if let Some(caps) = re.ok().and_then(|re| re.captures(message)) {
        d.line = caps[2].parse().ok();
        d.column = caps[3].parse().ok();
        d.message = format!("{what}: {}{}", &caps[1], &caps[4]);
    }
    d
}

/// 1-based line and column of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Any JSON value, rejecting objects with a repeated key.
struct NoDuplicates;

impl<'de> serde::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> serde::de::Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}
