//! `retr-mix`: downloads drawn from a weighted set of paths (`path weight` lines), so a
//! run can follow a mirror's real popularity curve instead of hammering one file.

/// A weighted set of paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    paths: Vec<String>,
    /// Running sum of the weights, one per path; the last one is the total.
    cumulative: Vec<f64>,
}

/// A mix file that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MixError {
    #[error("line {line}: expected `PATH WEIGHT`, got `{text}`")]
    Malformed { line: usize, text: String },
    #[error("line {line}: weight `{text}` is not a positive number")]
    Weight { line: usize, text: String },
    #[error("holds no paths")]
    Empty,
}

/// 1/φ: successive multiples of it modulo 1 are the most evenly spread sequence there is
/// (a Weyl sequence), so any run of transfers follows the weights closely.
const GOLDEN: f64 = 0.618_033_988_749_894_9;

impl Mix {
    /// Parses `path weight` lines; the weight is the last word, so paths may hold
    /// blanks. Blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, MixError> {
        let mut paths = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0.0;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let malformed = || MixError::Malformed {
                line: i + 1,
                text: line.to_string(),
            };
            let (path, weight) = line
                .rsplit_once(char::is_whitespace)
                .ok_or_else(malformed)?;
            let path = path.trim_end();
            if path.is_empty() {
                return Err(malformed());
            }
            let w: f64 = weight
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w > 0.0)
                .ok_or_else(|| MixError::Weight {
                    line: i + 1,
                    text: weight.to_string(),
                })?;
            total += w;
            paths.push(path.to_string());
            cumulative.push(total);
        }
        if paths.is_empty() {
            return Err(MixError::Empty);
        }
        Ok(Self { paths, cumulative })
    }

    /// Every path of the mix.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The path of transfer number `nth`: deterministic, and over any window of transfers
    /// each path's share is close to its weight's share.
    pub fn pick(&self, nth: u64) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let u = ((nth as f64 + 0.5) * GOLDEN).fract() * total;
        let i = self.cumulative.partition_point(|&c| c <= u);
        &self.paths[i.min(self.paths.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weights_and_paths_with_blanks() {
        let m = Mix::parse("# popularity\n/pub/a.iso 3\n\n/pub/my file.txt 0.5\n").unwrap();
        assert_eq!(m.paths(), ["/pub/a.iso", "/pub/my file.txt"]);
        assert_eq!(m.cumulative, [3.0, 3.5]);
    }

    #[test]
    fn refuses_bad_lines() {
        assert_eq!(
            Mix::parse("/a\n"),
            Err(MixError::Malformed {
                line: 1,
                text: "/a".into()
            })
        );
        assert_eq!(
            Mix::parse("/a 1\n/b zero\n"),
            Err(MixError::Weight {
                line: 2,
                text: "zero".into()
            })
        );
        assert!(matches!(Mix::parse("/a -1"), Err(MixError::Weight { .. })));
        assert!(matches!(Mix::parse("/a 0"), Err(MixError::Weight { .. })));
        assert_eq!(Mix::parse("# nothing\n"), Err(MixError::Empty));
    }

    #[test]
    fn picks_follow_the_weights() {
        let m = Mix::parse("/hot 90\n/warm 9\n/cold 1\n").unwrap();
        let count = |path: &str, n: u64| (0..n).filter(|&i| m.pick(i) == path).count();
        // Over 1,000 transfers the shares are within 1% of the weights.
        assert!((count("/hot", 1000) as i64 - 900).abs() <= 10);
        assert!((count("/warm", 1000) as i64 - 90).abs() <= 10);
        assert!((1..=20).contains(&count("/cold", 1000)));
        // Deterministic.
        assert_eq!(m.pick(17), m.pick(17));
    }

    #[test]
    fn single_path_always_picked() {
        let m = Mix::parse("/only 2").unwrap();
        assert!((0..100).all(|i| m.pick(i) == "/only"));
    }
}
