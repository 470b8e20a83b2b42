//! Reading the topics out of a consumer-protocol subscription (the member metadata of
//! groups whose protocol type is `consumer`; ConsumerProtocolSubscription v0–v3).

/// The subscribed topics, or `None` if the bytes are not a subscription.
pub fn topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut cur = metadata;
    let take = |cur: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if cur.len() < n {
            return None;
        }
        let (a, b) = cur.split_at(n);
        *cur = b;
        Some(a.to_vec())
    };
    let version = i16::from_be_bytes(take(&mut cur, 2)?.try_into().ok()?);
    if !(0..=3).contains(&version) {
        return None;
    }
    let count = i32::from_be_bytes(take(&mut cur, 4)?.try_into().ok()?);
    if !(0..=100_000).contains(&count) {
        return None;
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = i16::from_be_bytes(take(&mut cur, 2)?.try_into().ok()?);
        if len < 0 {
            return None;
        }
        out.push(String::from_utf8(take(&mut cur, len as usize)?).ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_topics() {
        let mut b = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        b.extend_from_slice(&[0, 0, 0, 0]); // user data
        assert_eq!(super::topics(&b), Some(vec!["a".into(), "bc".into()]));
        assert_eq!(super::topics(&[0]), None);
    }
}
