//! The process's resident memory, as Linux and Android report it.

/// Peak resident memory of this process in MB (Linux), if known.
pub(crate) fn peak_rss_mb() -> Option<f64> {
    proc_status_mb("VmHWM:")
}

/// Current resident memory of this process in MB (Linux), if known.
pub(crate) fn current_rss_mb() -> Option<f64> {
    proc_status_mb("VmRSS:")
}

/// A memory figure from /proc/self/status (Linux and Android), in MB.
fn proc_status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
