//! Credentials and TLS pass through `ringmpsc-bridge` to a real
//! `nats-server`: user and password (from the environment), an NKey seed
//! file, a CA file for a server with TLS; refused ones fail at once, and no
//! secret is ever printed.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

/// A closed log of `n` small records at `path`.
fn small_log(path: &Path, n: u64) {
    let mut w = source_builder(path).build().unwrap();
    for i in 0..n {
        let p = payload(i, 100);
        w.append(checksum(&p) as u32, &p).unwrap();
    }
    w.close().unwrap();
}

/// Runs `c` to its end; its output is appended to `out`.
fn run(name: &str, c: std::process::Command, out: &Path) -> bool {
    Proc::spawn(name, c, out)
        .wait(Duration::from_secs(30))
        .success()
}

/// User and password pass through (from the environment), a wrong one is
/// refused at once, and no secret is ever printed.
#[test]
fn credentials_pass_through_and_stay_secret() {
    let _w = watchdog(Duration::from_secs(60));
    let dir = TempDir::new("auth");
    let secret = "pw-3f9c1a77";
    let server = Server::standalone(&dir, "nats", &["--user", "bridge", "--pass", secret]);
    let url = server.url();
    let source = dir.path("source");
    let (out, bad) = (dir.path("push.log"), dir.path("bad.log"));
    small_log(&source, 100);

    let mut c = push_cmd(&source, &url, "AUTH", &["--exit-when-closed"]);
    c.env("NATS_USER", "bridge").env("NATS_PASSWORD", secret);
    let status = Proc::spawn("push", c, &out).wait(Duration::from_secs(30));
    assert!(status.success(), "{}", tail(&out, 2000));
    let mirror = dir.path("mirror");
    let mut c = pull_cmd("AUTH", &mirror, &url, &["--until-index", "99"]);
    c.env("NATS_USER", "bridge").env("NATS_PASSWORD", secret);
    let status = Proc::spawn("pull", c, &out).wait(Duration::from_secs(30));
    assert!(status.success(), "{}", tail(&out, 2000));
    assert_same_log(&source, &mirror, 100);

    let wrong = "wrong-8d2e";
    let c = push_cmd(
        &source,
        &url,
        "AUTH",
        &["--user", "bridge", "--password", wrong],
    );
    let status = Proc::spawn("push", c, &bad).wait(Duration::from_secs(30));
    assert!(!status.success());
    let printed = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&bad).unwrap()
    );
    assert!(printed.contains("authorization violation"), "{printed}");
    assert!(printed.contains("user and password"), "{printed}");
    assert!(
        !printed.contains(secret) && !printed.contains(wrong),
        "{printed}"
    );
}

/// An NKey user: the server knows the public key, the bridge reads the
/// seed from a file and signs the server's nonce with it.
#[test]
fn an_nkey_seed_file_passes_through() {
    let _w = watchdog(Duration::from_secs(60));
    let dir = TempDir::new("nkey");
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let conf = dir.path("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
            user.public_key()
        ),
    )
    .unwrap();
    let server = Server::standalone(&dir, "nats", &["-c", conf.to_str().unwrap()]);
    let url = server.url();
    let (source, mirror, out) = (dir.path("source"), dir.path("mirror"), dir.path("out.log"));
    small_log(&source, 50);
    let seed_file = dir.path("user.nk");
    std::fs::write(&seed_file, format!("{seed}\n")).unwrap();
    let nkey = seed_file.to_str().unwrap();
    let push = push_cmd(&source, &url, "NK", &["--exit-when-closed", "--nkey", nkey]);
    assert!(run("push", push, &out), "{}", tail(&out, 2000));
    let pull = pull_cmd(
        "NK",
        &mirror,
        &url,
        &["--until-index", "49", "--nkey", nkey],
    );
    assert!(run("pull", pull, &out), "{}", tail(&out, 2000));
    assert_same_log(&source, &mirror, 50);
    // Another key is refused.
    let other = dir.path("other.nk");
    std::fs::write(&other, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let push = push_cmd(&source, &url, "NK", &["--nkey", other.to_str().unwrap()]);
    assert!(!run("push", push, &out));
    let printed = std::fs::read_to_string(&out).unwrap();
    assert!(printed.contains("authorization violation"), "{printed}");
    assert!(printed.contains("(nkey)"), "{printed}");
    assert!(!printed.contains(&seed), "{printed}");
}

/// A server with TLS whose certificate a test CA signed: the bridge trusts
/// it through --tls-ca, and refuses it without.
#[test]
fn tls_with_a_ca_file_passes_through() {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let _w = watchdog(Duration::from_secs(60));
    let dir = TempDir::new("tls");
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf
        .signed_by(&leaf_key, &Issuer::new(ca, &ca_key))
        .unwrap();
    let (ca_pem, cert_pem, key_pem) = (
        dir.path("ca.pem"),
        dir.path("server.pem"),
        dir.path("server-key.pem"),
    );
    std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&cert_pem, leaf_cert.pem()).unwrap();
    std::fs::write(&key_pem, leaf_key.serialize_pem()).unwrap();
    let server = Server::standalone(
        &dir,
        "nats",
        &[
            "--tls",
            "--tlscert",
            cert_pem.to_str().unwrap(),
            "--tlskey",
            key_pem.to_str().unwrap(),
        ],
    );
    let url = server.url();
    let (source, mirror, out) = (dir.path("source"), dir.path("mirror"), dir.path("out.log"));
    small_log(&source, 50);
    let ca_arg = ca_pem.to_str().unwrap();
    let push = push_cmd(
        &source,
        &url,
        "TLS",
        &["--exit-when-closed", "--tls-ca", ca_arg],
    );
    assert!(run("push", push, &out), "{}", tail(&out, 2000));
    let pull = pull_cmd(
        "TLS",
        &mirror,
        &url,
        &["--until-index", "49", "--tls-ca", ca_arg],
    );
    assert!(run("pull", pull, &out), "{}", tail(&out, 2000));
    assert_same_log(&source, &mirror, 50);
    assert!(std::fs::read_to_string(&out).unwrap().contains(", TLS)"));
    // Without the CA the server's certificate is not trusted.
    let push = push_cmd(&source, &url, "TLS", &["--tls-required"]);
    assert!(!run("push", push, &out), "{}", tail(&out, 2000));
    assert!(
        tail(&out, 600).contains("ringmpsc-bridge: error: connect"),
        "{}",
        tail(&out, 2000)
    );
}
