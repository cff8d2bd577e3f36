//! An add-on's Helm chart from its repository: the repository's `index.yaml` names the archive's
//! URL (absolute, or relative to the repository) and its SHA-256 (`digest`), as `helm repo index`
//! writes them (helm/helm `pkg/repo/index.go`, `ChartVersion.Digest`, `URLs`). The archive lands
//! in the cache only when that digest matches.

use std::path::Path;

use super::download::{Fetched, Http};
use super::CacheError;
use crate::addons::registry::Mirror;
use crate::addons::ChartRef;

/// The setting that points chart downloads elsewhere.
const VIA: &str = "CHART_MIRRORS";
/// Repository indexes of busy repositories run to megabytes (every version of every chart).
const INDEX_LIMIT: u64 = 64 << 20;

/// The repository URL for `chart`: its CHART_MIRRORS entry, else its own.
pub fn repository_url(chart: &ChartRef, mirrors: &[Mirror]) -> String {
    mirrors
        .iter()
        .find(|m| m.registry == chart.repository.name)
        .map_or(chart.repository.url, |m| m.url.as_str())
        .trim_end_matches('/')
        .to_string()
}

/// The archive's URL and SHA-256 for `chart` in the repository index `index` (read from
/// `index_url`). `Err` when the index lacks the version or its digest.
pub fn locate(
    chart: &ChartRef,
    index: &str,
    index_url: &str,
) -> Result<(String, String), CacheError> {
    let doc: serde_yaml::Value = serde_yaml::from_str(index).map_err(|e| CacheError::BadIndex {
        url: index_url.to_string(),
        reason: e.to_string(),
    })?;
    let entry = doc["entries"][chart.name]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|e| version_of(e) == Some(chart.version))
        .ok_or_else(|| CacheError::ChartNotFound {
            url: index_url.to_string(),
            chart: chart.name,
            version: chart.version,
        })?;
    let digest = entry["digest"]
        .as_str()
        .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase())
        .filter(|d| d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| CacheError::NoChartDigest {
            url: index_url.to_string(),
            chart: chart.name,
        })?;
    let url = entry["urls"][0]
        .as_str()
        .ok_or_else(|| CacheError::ChartNotFound {
            url: index_url.to_string(),
            chart: chart.name,
            version: chart.version,
        })?;
    Ok((resolve(index_url, url), digest))
}

/// A version as the index has it: YAML may read `1.0` as a number.
fn version_of(entry: &serde_yaml::Value) -> Option<&str> {
    entry["version"].as_str()
}

/// `url` as given when absolute, else beside the index.
fn resolve(index_url: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    let base = index_url.rsplit_once('/').map_or(index_url, |(b, _)| b);
    format!("{base}/{}", url.trim_start_matches('/'))
}

/// Downloads `chart` to `dest` (verified), reading the repository's index first.
pub fn fetch(
    http: &Http,
    chart: &ChartRef,
    mirrors: &[Mirror],
    dest: &Path,
) -> Result<(Fetched, String), CacheError> {
    let index_url = format!("{}/index.yaml", repository_url(chart, mirrors));
    let index = http
        .bytes(&index_url, &[], INDEX_LIMIT)
        .map_err(|e| e.via(VIA))?;
    let (url, sha) = locate(chart, &String::from_utf8_lossy(&index), &index_url)?;
    let fetched = http.file(&url, dest, &sha).map_err(|e| e.via(VIA))?;
    Ok((fetched, sha))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addons::HelmRepository;

    const CHART: ChartRef = ChartRef {
        repository: HelmRepository {
            name: "metallb",
            url: "https://metallb.github.io/metallb",
        },
        name: "metallb",
        version: "0.15.3",
    };
    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn index(urls: &str, digest: &str) -> String {
        format!(
            "apiVersion: v1\nentries:\n  metallb:\n  - name: metallb\n    version: 0.15.4\n    urls: [x]\n    digest: {SHA}\n  - name: metallb\n    version: 0.15.3\n    urls: [{urls}]\n    digest: {digest}\n"
        )
    }

    #[test]
    fn the_index_names_the_archive_and_its_digest() {
        let at = "http://m/metallb/index.yaml";
        let (url, sha) = locate(&CHART, &index("metallb-0.15.3.tgz", SHA), at).unwrap();
        assert_eq!(url, "http://m/metallb/metallb-0.15.3.tgz");
        assert_eq!(sha, SHA);
        let (url, _) = locate(&CHART, &index("https://gh/r/metallb-0.15.3.tgz", SHA), at).unwrap();
        assert_eq!(url, "https://gh/r/metallb-0.15.3.tgz");
        let missing = locate(&CHART, &index("a", SHA).replace("0.15.3", "0.15.2"), at);
        assert!(matches!(missing, Err(CacheError::ChartNotFound { .. })));
        let no_digest = locate(&CHART, &index("a", "''"), at);
        assert!(matches!(no_digest, Err(CacheError::NoChartDigest { .. })));
        let html = locate(&CHART, "<html>: [not yaml", at)
            .unwrap_err()
            .to_string();
        assert!(
            html.starts_with("http://m/metallb/index.yaml is not a Helm repository index (")
                && html.ends_with("points at the repository, where index.yaml is"),
            "{html}"
        );
    }

    #[test]
    fn a_mirror_replaces_the_repository() {
        let mirrors = [Mirror {
            registry: "metallb".into(),
            url: "http://127.0.0.1:9/charts/".into(),
        }];
        assert_eq!(
            repository_url(&CHART, &mirrors),
            "http://127.0.0.1:9/charts"
        );
        assert_eq!(
            repository_url(&CHART, &[]),
            "https://metallb.github.io/metallb"
        );
    }
}
