//! External suites: executables in `bench/suites/` printing TSV rows.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::Row;

#[derive(Debug)]
pub struct Suite {
    pub name: String,
    path: PathBuf,
}

/// Executable files in `dir`, named by their stem (`envd.py` → `envd`).
pub fn discover(dir: &Path) -> std::io::Result<Vec<Suite>> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut suites = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let executable = path
            .metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable.unwrap_or(false) {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            suites.push(Suite { name, path });
        }
    }
    suites.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(suites)
}

/// Runs one suite; a failing suite becomes a row saying so rather than
/// aborting the whole table.
pub fn run(suite: &Suite) -> Vec<Row> {
    match Command::new(&suite.path).output() {
        Ok(output) => {
            let mut rows: Vec<Row> = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(Row::parse)
                .collect();
            if !output.status.success() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last = stderr.lines().last().unwrap_or("").to_owned();
                rows.push(failed(
                    &suite.name,
                    &format!("exited {}: {last}", output.status),
                ));
            }
            rows
        }
        Err(err) => vec![failed(&suite.name, &err.to_string())],
    }
}

fn failed(name: &str, why: &str) -> Row {
    Row {
        name: format!("{name}.FAILED"),
        value: "-".into(),
        unit: String::new(),
        note: why.into(),
    }
}
