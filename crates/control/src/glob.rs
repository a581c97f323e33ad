//! Shell-style name patterns for LIST, NLST and STAT (`*`, `?`, `[...]` in the last
//! path component only; no brace expansion, no recursion).
//!
//! The matcher simulates the pattern's automaton with one bit per pattern position,
//! so a name is matched in one pass over its bytes: time is linear in the name's length
//! for any pattern (no backtracking, so `a*a*a*...b` costs what `*b` costs), and
//! patterns are bounded to [`MAX_PATTERN`] bytes.

/// Longest pattern accepted, in bytes (a file name cannot be longer: NAME_MAX).
pub const MAX_PATTERN: usize = 255;

/// Bits for the positions of a pattern of at most `MAX_PATTERN` tokens, plus the end.
const WORDS: usize = 4;

type Set = [u64; WORDS];

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern longer than {MAX_PATTERN} bytes")]
    TooLong,
}

/// True if a name component holds a glob metacharacter.
pub fn is_glob(component: &[u8]) -> bool {
    component.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// A compiled pattern for one name component.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    source: Vec<u8>,
    /// For each byte value: the positions whose token consumes that byte.
    accepts: Box<[Set; 256]>,
    /// Positions holding `*` (which also consume any byte and stay).
    stars: Set,
    /// Position of the accepting state (the number of tokens).
    end: usize,
    /// The first token is a literal `.`: only then may a dotfile match.
    leading_dot: bool,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", String::from_utf8_lossy(&self.source))
    }
}

enum Token {
    Byte(u8),
    Any,
    Star,
    Class(Box<[bool; 256]>),
}

impl Pattern {
    /// Compile a pattern. An unbalanced `[` is a literal `[`, as in fnmatch(3).
    pub fn new(source: &[u8]) -> Result<Pattern, PatternError> {
        if source.len() > MAX_PATTERN {
            return Err(PatternError::TooLong);
        }
        let tokens = tokenize(source);
        let mut accepts = Box::new([[0u64; WORDS]; 256]);
        let mut stars = [0u64; WORDS];
        for (pos, token) in tokens.iter().enumerate() {
            match token {
                Token::Byte(b) => set(&mut accepts[usize::from(*b)], pos),
                Token::Any | Token::Star => {
                    for a in accepts.iter_mut() {
                        set(a, pos);
                    }
                    if matches!(token, Token::Star) {
                        set(&mut stars, pos);
                    }
                }
                Token::Class(members) => {
                    for (b, &m) in members.iter().enumerate() {
                        if m {
                            set(&mut accepts[b], pos);
                        }
                    }
                }
            }
        }
        Ok(Pattern {
            source: source.to_vec(),
            leading_dot: matches!(tokens.first(), Some(Token::Byte(b'.'))),
            accepts,
            stars,
            end: tokens.len(),
        })
    }

    /// The pattern as the client sent it.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    /// Does `name` match? A leading `.` must be matched by a literal `.`, as in shells.
    pub fn matches(&self, name: &[u8]) -> bool {
        if name.first() == Some(&b'.') && !self.leading_dot {
            return false;
        }
        let mut state = [0u64; WORDS];
        set(&mut state, 0);
        self.close(&mut state);
        for &b in name {
            let accept = &self.accepts[usize::from(b)];
            let mut carry = 0u64;
            for ((s, a), star) in state.iter_mut().zip(accept).zip(&self.stars) {
                let live = *s & a;
                // A star consumes the byte and stays where it is.
                let next = (live << 1) | carry | (*s & star);
                carry = live >> 63;
                *s = next;
            }
            self.close(&mut state);
            if state.iter().all(|&w| w == 0) {
                return false;
            }
        }
        get(&state, self.end)
    }

    /// A star may also match nothing: reaching it means reaching the position after it.
    /// Runs of stars were collapsed, so one step is the whole closure.
    fn close(&self, state: &mut Set) {
        let mut carry = 0u64;
        for (s, star) in state.iter_mut().zip(&self.stars) {
            let skip = *s & star;
            let next = (skip << 1) | carry;
            carry = skip >> 63;
            *s |= next;
        }
    }
}

fn set(s: &mut Set, pos: usize) {
    s[pos / 64] |= 1 << (pos % 64);
}

fn get(s: &Set, pos: usize) -> bool {
    s[pos / 64] & (1 << (pos % 64)) != 0
}

fn tokenize(source: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(source.len());
    let mut i = 0;
    while i < source.len() {
        match source[i] {
            b'*' => {
                if !matches!(tokens.last(), Some(Token::Star)) {
                    tokens.push(Token::Star);
                }
                i += 1;
            }
            b'?' => {
                tokens.push(Token::Any);
                i += 1;
            }
            b'[' => match class(&source[i + 1..]) {
                Some((members, used)) => {
                    tokens.push(Token::Class(Box::new(members)));
                    i += 1 + used;
                }
                None => {
                    tokens.push(Token::Byte(b'['));
                    i += 1;
                }
            },
            b => {
                tokens.push(Token::Byte(b));
                i += 1;
            }
        }
    }
    tokens
}

/// Parse the inside of `[...]` (after the `[`): the member set and the bytes used,
/// including the closing `]`; `None` if there is no closing `]`.
fn class(rest: &[u8]) -> Option<([bool; 256], usize)> {
    let mut i = 0;
    let negate = matches!(rest.first(), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut members = [false; 256];
    let mut first = true;
    loop {
        let &b = rest.get(i)?;
        if b == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        if rest.get(i + 1) == Some(&b'-') && rest.get(i + 2).is_some_and(|&e| e != b']') {
            let end = rest[i + 2];
            for m in b.min(end)..=b.max(end) {
                members[usize::from(m)] = true;
            }
            i += 3;
        } else {
            members[usize::from(b)] = true;
            i += 1;
        }
    }
    if negate {
        for m in members.iter_mut() {
            *m = !*m;
        }
    }
    Some((members, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(p: &str, name: &str) -> bool {
        Pattern::new(p.as_bytes()).unwrap().matches(name.as_bytes())
    }

    #[test]
    fn shell_semantics() {
        assert!(m("*.iso", "debian-12.iso"));
        assert!(!m("*.iso", "debian-12.iso.sig"));
        assert!(m("*", "a"));
        assert!(m("*", ""));
        assert!(!m("*", ".hidden"), "a leading dot needs a literal dot");
        assert!(m(".*", ".hidden"));
        assert!(m("?.txt", "a.txt"));
        assert!(!m("?.txt", "ab.txt"));
        assert!(m("file[0-9].txt", "file7.txt"));
        assert!(!m("file[0-9].txt", "filex.txt"));
        assert!(m("file[!0-9].txt", "filex.txt"));
        assert!(m("file[^0-9].txt", "filex.txt"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("{a,b}", "{a,b}"), "no brace expansion");
        assert!(!m("{a,b}", "a"));
    }

    #[test]
    fn unbalanced_bracket_is_literal() {
        assert!(m("[abc", "[abc"));
        assert!(!m("[abc", "a"));
        assert!(m("x[", "x["));
        assert!(m("[!", "[!"));
    }

    #[test]
    fn long_patterns_are_refused() {
        assert_eq!(
            Pattern::new(&[b'*'; 4000]).unwrap_err(),
            PatternError::TooLong
        );
        let p = Pattern::new(&[b'?'; MAX_PATTERN]).unwrap();
        assert!(p.matches(&[b'x'; MAX_PATTERN]));
        assert!(!p.matches(&[b'x'; MAX_PATTERN - 1]));
    }

    #[test]
    fn backtracking_pattern_against_a_long_name() {
        // Exponential for a backtracking matcher; one pass here.
        let pattern = "a*".repeat(120) + "b";
        let p = Pattern::new(pattern.as_bytes()).unwrap();
        assert!(!p.matches(&[b'a'; 255]));
        let mut name = vec![b'a'; 254];
        name.push(b'b');
        assert!(p.matches(&name));
    }

    /// A plain recursive matcher as the reference (fine for short inputs).
    fn reference(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| reference(rest, &n[i..])),
            Some((b'?', rest)) => !n.is_empty() && reference(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && reference(rest, &n[1..]),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_a_reference_matcher(
            p in proptest::collection::vec(prop_oneof![Just(b'*'), Just(b'?'), Just(b'a'), Just(b'b')], 0..12),
            n in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 0..12),
        ) {
            let pattern = Pattern::new(&p).unwrap();
            prop_assert_eq!(pattern.matches(&n), reference(&p, &n));
        }

        #[test]
        fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..300), n in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(pattern) = Pattern::new(&p) {
                let _ = pattern.matches(&n);
            }
        }
    }
}
