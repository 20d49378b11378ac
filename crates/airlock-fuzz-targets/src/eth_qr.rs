//! `eth_qr`: EIP-4527 `eth-sign-request` and `eth-signature` CBOR
//! (`airlock_chain_ethereum::eip4527`). The first byte picks the decoder (even: request, odd:
//! signature). Whatever decodes must encode to bytes that decode to the same value.

use airlock_chain_ethereum::eip4527::{DeviceSignature, SignRequest};

pub fn run(data: &[u8]) {
    let (m, rest) = crate::mode(data);
    if m % 2 == 0 {
        if let Ok(request) = SignRequest::from_cbor(rest) {
            let again = SignRequest::from_cbor(&request.to_cbor()).expect("own request");
            assert_eq!(again, request);
        }
    } else if let Ok(signature) = DeviceSignature::from_cbor(rest) {
        let again = DeviceSignature::from_cbor(&signature.to_cbor()).expect("own signature");
        assert_eq!(again, signature);
    }
}
