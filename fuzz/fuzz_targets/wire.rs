//! Transfer-protocol decoders (the first bytes a peer sends): never panic;
//! whatever decodes re-encodes to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::wire::{ChunksAnswer, Request, Response};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::from_bytes(data) {
        assert_eq!(request.to_bytes(), data);
    }
    if let Ok(response) = Response::from_bytes(data) {
        assert_eq!(response.to_bytes(), data);
    }
    if let Ok(answer) = ChunksAnswer::from_bytes(data) {
        assert_eq!(answer.to_bytes(), data);
    }
});
