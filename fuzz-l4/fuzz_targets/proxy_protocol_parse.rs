//! The PROXY protocol parser must never panic, never claim more bytes than
//! it was given, and agree with the encoder on the addresses it decodes.
#![no_main]

use lb_l4::proxy_protocol::{encode, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some((header, consumed))) = parse(data) else {
        return;
    };
    assert!(consumed <= data.len());
    // Every proper prefix of a complete header asks for more bytes.
    for cut in 0..consumed {
        assert!(
            matches!(parse(&data[..cut]), Ok(None)),
            "prefix {cut} of {consumed}"
        );
    }
    if let (Some(src), Some(dst)) = (header.source, header.destination) {
        let mut again = Vec::new();
        encode(header.version, src, dst, &mut again);
        let (reparsed, n) = parse(&again).ok().flatten().expect("encoded header parses");
        assert_eq!(n, again.len());
        assert_eq!(
            (reparsed.source, reparsed.destination),
            (header.source, header.destination)
        );
    }
});
