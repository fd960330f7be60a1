//! `cairn check-aof`: where an increment stops being valid RESP (and `--fix` cuts it
//! there), and whether every part a manifest names is there and whole.

use std::fs::OpenOptions;
use std::path::Path;

use super::aof::Manifest;
use super::snapshot;
use super::stream::FILE_LIMITS;

/// `cairn check-aof [--fix] FILE`: where an increment stops being valid RESP. Returns the
/// report and whether the file is whole.
pub fn check(path: &Path, fix: bool) -> Result<(String, bool), String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut parser = cairn_protocol::RequestParser::new(FILE_LIMITS);
    let mut at = 0;
    let mut commands = 0u64;
    let problem = loop {
        if at == data.len() {
            break None;
        }
        if data[at] != b'*' {
            break Some("expected a RESP array ('*')".to_string());
        }
        match parser.parse(&data[at..]) {
            Ok(cairn_protocol::resp::request::Parsed::Command { len, .. }) => {
                at += len;
                commands += 1;
            }
            Ok(cairn_protocol::resp::request::Parsed::Nothing { len }) => at += len,
            Ok(cairn_protocol::resp::request::Parsed::Incomplete { .. }) => {
                break Some("the file ends in the middle of a command".to_string());
            }
            Err(e) => break Some(e.message()),
        }
    };
    match problem {
        None => Ok((
            format!(
                "{}: {commands} commands, {} bytes: OK",
                path.display(),
                data.len()
            ),
            true,
        )),
        Some(why) if fix => {
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(at as u64))
                .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
            Ok((
                format!(
                    "{}: {why} at offset {at}; truncated to {at} bytes ({commands} whole commands kept, {} bytes dropped)",
                    path.display(),
                    data.len() - at
                ),
                true,
            ))
        }
        Some(why) => Ok((
            format!(
                "{}: {why} at offset {at} ({commands} whole commands before it, {} bytes after). \
                 Run `cairn check-aof --fix {}` to cut the file there",
                path.display(),
                data.len() - at,
                path.display()
            ),
            false,
        )),
    }
}

/// `cairn check-aof [--fix] DIR/NAME.manifest`: every part the manifest names, whether it
/// is there and whole (`--fix` cuts the last increment back to its last whole command).
pub fn check_set(manifest: &Path, fix: bool) -> Result<(String, bool), String> {
    let text =
        std::fs::read(manifest).map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let parsed = std::str::from_utf8(&text)
        .map_err(|_| "it is not text".to_string())
        .and_then(Manifest::parse);
    let m = match parsed {
        Ok(m) if !m.parts.is_empty() => m,
        Ok(_) => {
            return Ok((
                format!("{}: empty: it names no part", manifest.display()),
                false,
            ));
        }
        Err(e) => return Ok((format!("{}: {e}", manifest.display()), false)),
    };
    let last = m.last_incr().map(|p| p.file.clone());
    let mut report = Vec::new();
    let mut bad = 0;
    for part in &m.parts {
        let path = dir.join(&part.file);
        if !path.is_file() {
            bad += 1;
            report.push(format!("{}: missing", path.display()));
            continue;
        }
        let (line, whole) = if part.base {
            match std::fs::read(&path) {
                Ok(data) => match snapshot::read(&data, |_, _| Ok(())) {
                    Ok(c) => (
                        format!("{}: base, {} keys: OK", path.display(), c.keys),
                        true,
                    ),
                    Err(d) => (
                        format!(
                            "{}: base damaged at offset {}: {}",
                            path.display(),
                            d.at,
                            d.why
                        ),
                        false,
                    ),
                },
                Err(e) => (format!("{}: cannot read: {e}", path.display()), false),
            }
        } else {
            check(&path, fix && Some(&part.file) == last.as_ref())?
        };
        if !whole {
            bad += 1;
        }
        report.push(line);
    }
    report.push(format!(
        "{}: {} parts, {}",
        manifest.display(),
        m.parts.len(),
        if bad == 0 {
            "all there and whole: OK".to_string()
        } else {
            format!("{bad} missing or damaged")
        }
    ));
    Ok((report.join("\n"), bad == 0))
}
