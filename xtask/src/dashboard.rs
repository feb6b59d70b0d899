//! Renders the admin dashboard to a PNG (stub until the dashboard task lands).

/// Render the dashboard.
pub(crate) fn run() -> Result<(), String> {
    Err("not implemented yet".to_owned())
}
