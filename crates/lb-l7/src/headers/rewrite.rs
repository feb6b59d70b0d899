//! Route-level header changes: set and remove, with names and values built at load time.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers to remove and headers to set, applied in that order (so a header both removed and
/// set ends up set). The default changes nothing.
///
/// Names and values are built once, when the configuration is loaded; [`apply`](Self::apply)
/// only inserts clones of them (a reference-count bump), so it allocates nothing beyond what the
/// map itself may need to grow.
///
/// ```
/// use http::{HeaderMap, HeaderName, HeaderValue};
/// use lb_l7::headers::HeaderRewrite;
///
/// let rewrite = HeaderRewrite {
///     set: vec![(HeaderName::from_static("x-env"), HeaderValue::from_static("prod"))],
///     remove: vec![HeaderName::from_static("x-debug")],
/// };
/// let mut headers = HeaderMap::new();
/// headers.insert("x-debug", HeaderValue::from_static("1"));
/// headers.append("x-env", HeaderValue::from_static("dev"));
/// headers.append("x-env", HeaderValue::from_static("test"));
/// rewrite.apply(&mut headers);
/// assert!(!headers.contains_key("x-debug"));
/// assert_eq!(headers.get_all("x-env").iter().collect::<Vec<_>>(), ["prod"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderRewrite {
    /// Headers to set, replacing every value the message had for that name.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Headers to remove (all their values).
    pub remove: Vec<HeaderName>,
}

impl HeaderRewrite {
    /// Whether applying this rewrite changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }

    /// Removes, then sets, on `headers`.
    #[inline]
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
    }
}
