use std::collections::BTreeSet;

use bytes::Bytes;

use crate::sm::small_bytes::{SmallBytes, INLINE};

/// Strings around the inline limit, so both representations and the edge are covered.
fn samples() -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new(), b"a".to_vec(), vec![0u8; 3], vec![0xff; 5]];
    for len in [INLINE - 1, INLINE, INLINE + 1, 64, 1024] {
        out.push((0..len).map(|i| (i * 7 % 251) as u8).collect());
        out.push(vec![b'z'; len]);
    }
    out
}

#[test]
fn holds_the_bytes_it_was_given_either_side_of_the_inline_limit() {
    for s in samples() {
        let small = SmallBytes::from(s.as_slice());
        assert_eq!(&*small, s.as_slice());
        assert_eq!(
            matches!(small, SmallBytes::Inline { .. }),
            s.len() <= INLINE,
            "len {}",
            s.len()
        );
        assert_eq!(Bytes::from(&small), Bytes::from(s.clone()));
        assert_eq!(small, Bytes::from(s));
    }
}

#[test]
fn equality_and_order_are_those_of_the_bytes() {
    let all = samples();
    for a in &all {
        for b in &all {
            let (sa, sb) = (SmallBytes::from(a.as_slice()), SmallBytes::from(b.as_slice()));
            assert_eq!(sa == sb, a == b);
            assert_eq!(sa.cmp(&sb), a.cmp(b));
        }
    }
    let set: BTreeSet<SmallBytes> = all.iter().map(|s| SmallBytes::from(s.as_slice())).collect();
    let expected: BTreeSet<&[u8]> = all.iter().map(|s| s.as_slice()).collect();
    assert!(set.iter().map(|s| &**s).eq(expected.into_iter()));
}

#[test]
fn serde_form_is_that_of_bytes_so_snapshots_keep_their_format() {
    for s in samples() {
        let small = SmallBytes::from(s.as_slice());
        let encoded = postcard::to_allocvec(&small).unwrap();
        assert_eq!(encoded, postcard::to_allocvec(&Bytes::from(s.clone())).unwrap());
        let back: SmallBytes = postcard::from_bytes(&encoded).unwrap();
        assert_eq!(back, small);
        assert_eq!(matches!(back, SmallBytes::Inline { .. }), s.len() <= INLINE);
    }
}

#[test]
fn debug_shows_escaped_bytes() {
    assert_eq!(format!("{:?}", SmallBytes::from(&b"l:1\n\xff"[..])), r#"b"l:1\n\xff""#);
}
