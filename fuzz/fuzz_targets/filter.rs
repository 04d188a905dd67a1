//! The SCIM filter parser: any text gives a filter or an error, never a
//! panic; a parsed filter prints to text that parses to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster::scim::filter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = filter::parse(text) {
        let printed = parsed.to_string();
        let again = filter::parse(&printed).expect("a printed filter parses");
        assert_eq!(again, parsed, "{text:?} printed as {printed:?}");
    }
});
