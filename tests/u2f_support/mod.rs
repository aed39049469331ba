//! A software U2F token (P-256, its own self-signed attestation certificate) answering as the
//! U2F API does (`u2f.register`, `u2f.sign`) and as a browser does for a U2F-registered key
//! through WebAuthn's `appid` extension.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A software U2F token: one credential, a signature counter, an attestation key and
/// certificate.
#[derive(Clone)]
pub struct SoftU2f {
    pub key: SigningKey,
    pub handle: Vec<u8>,
    pub counter: u32,
    pub attestation: SigningKey,
    pub certificate: Vec<u8>,
}

impl SoftU2f {
    pub fn new() -> SoftU2f {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let certificate = rcgen::CertificateParams::new(vec!["soft u2f".to_owned()])
            .unwrap()
            .self_signed(&kp)
            .unwrap()
            .der()
            .to_vec();
        SoftU2f {
            key: SigningKey::from_slice(&rand::random::<[u8; 32]>()).unwrap(),
            handle: rand::random::<[u8; 48]>().to_vec(),
            counter: 0,
            attestation: SigningKey::from_pkcs8_der(&kp.serialize_der()).unwrap(),
            certificate,
        }
    }

    /// `u2f.register`'s answer to a registration challenge (the JSON text the server sent).
    pub fn register(&self, challenge_text: &str, origin: &str) -> String {
        let ch: Value = serde_json::from_str(challenge_text).unwrap();
        let client_data = json!({
            "typ": "navigator.id.finishEnrollment",
            "challenge": ch["challenge"],
            "origin": origin,
        })
        .to_string();
        let public = self.key.verifying_key().to_encoded_point(false);
        let mut signed = vec![0u8];
        signed.extend_from_slice(&Sha256::digest(ch["appId"].as_str().unwrap()));
        signed.extend_from_slice(&Sha256::digest(&client_data));
        signed.extend_from_slice(&self.handle);
        signed.extend_from_slice(public.as_bytes());
        let signature: Signature = self.attestation.sign(&signed);
        let mut data = vec![0x05];
        data.extend_from_slice(public.as_bytes());
        data.push(u8::try_from(self.handle.len()).unwrap());
        data.extend_from_slice(&self.handle);
        data.extend_from_slice(&self.certificate);
        data.extend_from_slice(signature.to_der().as_bytes());
        json!({
            "registrationData": URL_SAFE_NO_PAD.encode(data),
            "clientData": URL_SAFE_NO_PAD.encode(client_data),
            "version": "U2F_V2",
        })
        .to_string()
    }

    /// `u2f.sign`'s answer to the login challenge (`{challenge: {challenge, appId}, keys}`).
    pub fn sign_u2f(&mut self, u2f: &Value, origin: &str) -> String {
        self.counter += 1;
        let client_data = json!({
            "typ": "navigator.id.getAssertion",
            "challenge": u2f["challenge"]["challenge"],
            "origin": origin,
        })
        .to_string();
        let mut head = vec![0x01];
        head.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = Sha256::digest(u2f["challenge"]["appId"].as_str().unwrap()).to_vec();
        signed.extend_from_slice(&head);
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        head.extend_from_slice(signature.to_der().as_bytes());
        json!({
            "keyHandle": URL_SAFE_NO_PAD.encode(&self.handle),
            "clientData": URL_SAFE_NO_PAD.encode(client_data),
            "signatureData": URL_SAFE_NO_PAD.encode(head),
        })
        .to_string()
    }

    /// What `navigator.credentials.get` with `extensions: {appid}` returns for this key: the
    /// authenticator data starts with SHA-256 of `rp` (the AppID when the browser used it).
    pub fn sign_webauthn(&mut self, u2f: &Value, origin: &str, rp: &str) -> String {
        self.counter += 1;
        let client_data = json!({
            "type": "webauthn.get",
            "challenge": u2f["challenge"]["challenge"],
            "origin": origin,
            "crossOrigin": false,
        })
        .to_string();
        let mut auth_data = Sha256::digest(rp).to_vec();
        auth_data.push(0x01);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        let id = URL_SAFE_NO_PAD.encode(&self.handle);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
                "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
                "signature": URL_SAFE_NO_PAD.encode(signature.to_der().as_bytes()),
                "userHandle": null,
            },
            "clientExtensionResults": { "appid": true },
        })
        .to_string()
    }
}
