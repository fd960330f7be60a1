//! Making file changes durable: the directory entry too, not only the file's bytes.

use std::fs::File;
use std::path::Path;

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
