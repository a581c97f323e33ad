//! FTPS for the load generator (`--tls`): rustls client settings, one session cache per
//! FTP session so its data connections resume its control connection's TLS session (as
//! servers requiring session reuse demand), and trust in exactly one certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Why the TLS settings cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-trust {path}: {source}")]
    Read {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("--tls-trust {0}: no certificate in the file")]
    Empty(PathBuf),
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

/// TLS sessions tickets kept per FTP session (a server sends one to a few).
const TICKETS_PER_SESSION: usize = 8;

/// What every FTPS session starts from.
#[derive(Debug, Clone)]
pub struct TlsClient {
    base: Arc<ClientConfig>,
    /// Name presented to the server (an IP address: no SNI is sent).
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// Trust exactly the certificate in `trust` (the server's own, e.g. self-signed).
    pub fn new(trust: &Path, server_name: ServerName<'static>) -> Result<TlsClient, TlsError> {
        let cert = CertificateDer::pem_file_iter(trust)
            .and_then(|mut certs| certs.next().transpose())
            .map_err(|source| TlsError::Read {
                path: trust.to_path_buf(),
                source,
            })?
            .ok_or_else(|| TlsError::Empty(trust.to_path_buf()))?;
        let provider = Arc::new(ring::default_provider());
        let verifier = Arc::new(PinnedCert {
            cert,
            provider: provider.clone(),
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsClient {
            base: Arc::new(config),
            server_name,
        })
    }

    /// Settings for one FTP session, with its own session cache.
    pub fn for_session(&self) -> Arc<ClientConfig> {
        let mut config = (*self.base).clone();
        config.resumption =
            Resumption::store(Arc::new(ClientSessionMemoryCache::new(TICKETS_PER_SESSION)));
        Arc::new(config)
    }
}

/// Accepts the one certificate given, byte for byte; signatures are still checked.
#[derive(Debug)]
struct PinnedCert {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
