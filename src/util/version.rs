//! Version numbers as k0s, k0sctl and Vagrant print them, reduced to (major, minor, patch) for
//! comparing. One parser per spelling, all here.

/// (major, minor, patch).
pub type Version = (u64, u64, u64);

/// A k0s or k0sctl release as k0sctl reads it: `v1.33.4+k0s.0`, `v0.19.3`, `1.33` (missing parts
/// are 0); a prerelease or build suffix does not change the number.
pub fn release(text: &str) -> Option<Version> {
    let core = text.strip_prefix('v').unwrap_or(text);
    let core = core.split(['+', '-']).next()?;
    let mut parts = core.split('.').map(|s| s.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// The full form k0sctl expects in `spec.k0s.version` when we set it:
/// `v<major>.<minor>.<patch>[-<pre>]+k0s.<n>`. `None` for anything else.
pub fn k0s_full(text: &str) -> Option<Version> {
    let rest = text.strip_prefix('v')?;
    let (core_pre, build) = rest.split_once("+k0s.")?;
    if build.is_empty() || !build.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (core, pre) = match core_pre.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core_pre, None),
    };
    if pre
        .is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    {
        return None;
    }
    let numbers: Vec<u64> = core
        .split('.')
        .map(|s| {
            (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    match numbers[..] {
        [major, minor, patch] => Some((major, minor, patch)),
        _ => None,
    }
}

/// Vagrant's `Vagrant::VERSION` (`2.3.4`, `2.4.10.dev`): three numbers, each part's leading digits.
pub fn vagrant(text: &str) -> Option<Version> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    let mut next = || -> Option<u64> {
        let digits: String = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    Some((next()?, next()?, next()?))
}

/// `2.4.0`.
pub fn show(v: Version) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_spelling_reads_as_its_tool_writes_it() {
        assert_eq!(release("v1.33.4+k0s.0"), Some((1, 33, 4)));
        assert_eq!(release("v0.19.3"), Some((0, 19, 3)));
        assert_eq!(release("1.33"), Some((1, 33, 0)));
        assert_eq!(release("v1.2.3.4"), None);
        assert_eq!(k0s_full("v1.32.1-rc.1+k0s.0"), Some((1, 32, 1)));
        assert_eq!(k0s_full("v1.33.4"), None);
        assert_eq!(k0s_full("v1.33+k0s.0"), None);
        assert_eq!(k0s_full("v1.33.4-+k0s.0"), None);
        assert_eq!(k0s_full("1.33.4+k0s.0"), None);
        assert_eq!(vagrant("2.3.4"), Some((2, 3, 4)));
        assert_eq!(vagrant("2.4.10.dev"), Some((2, 4, 10)));
        assert_eq!(vagrant("2.4"), None);
        assert_eq!(vagrant("x"), None);
        assert_eq!(show((2, 4, 0)), "2.4.0");
    }
}
