//! Where the signing region comes from. One test in its own binary: it changes the process
//! environment, which other tests must not see.

mod support;

use alloy_amb::{AmbError, AmbHttp, ProviderBuilderExt};
use alloy_amb_testing::{FakeAmb, REGION};
use alloy_provider::{Provider, ProviderBuilder};
use support::fake_credentials;

fn build(url: &str, region: Option<&str>) -> AmbHttp {
    let mut b = AmbHttp::builder(url).credentials_provider(fake_credentials());
    if let Some(r) = region {
        b = b.region(r);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn region_comes_from_builder_host_environment_or_profile() {
    let dir = std::env::temp_dir().join(format!("alloy-amb-region-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    std::fs::write(&config, "").unwrap();
    std::fs::write(dir.join("credentials"), "").unwrap();
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONFIG_FILE", &config);
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    let fake = FakeAmb::start().await;
    let url = fake.url();

    // Nowhere: construction succeeds (the profile is read lazily), the first request fails
    // before anything is signed or sent, naming where it looked.
    let t = build(&url, None);
    assert_eq!(t.region(), None);
    let err = ProviderBuilder::new()
        .on_transport(t)
        .get_block_number()
        .await
        .unwrap_err();
    match AmbError::from_transport_error(&err) {
        Some(AmbError::NoRegion { host, looked, .. }) => {
            assert_eq!(host, "127.0.0.1");
            for place in ["builder", "AWS_REGION", "AWS_DEFAULT_REGION", "profile"] {
                assert!(looked.contains(place), "{looked}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.received().is_empty());

    // Environment: known at construction.
    std::env::set_var("AWS_DEFAULT_REGION", REGION);
    let t = build(&url, None);
    assert_eq!(t.region(), Some(REGION));
    let p = ProviderBuilder::new().on_transport(t);
    p.get_block_number().await.unwrap();
    std::env::set_var("AWS_REGION", "ap-south-1");
    assert_eq!(build(&url, None).region(), Some("ap-south-1"));

    // The builder wins over the environment; the AMB host name wins over the environment.
    assert_eq!(build(&url, Some("eu-west-1")).region(), Some("eu-west-1"));
    let amb = "https://nd-abcdef.ethereum.managedblockchain.us-west-2.amazonaws.com/";
    assert_eq!(build(amb, None).region(), Some("us-west-2"));
    assert_eq!(build(amb, Some("eu-west-1")).region(), Some("eu-west-1"));

    // The profile: resolved on first use.
    std::env::remove_var("AWS_REGION");
    std::env::remove_var("AWS_DEFAULT_REGION");
    std::fs::write(&config, format!("[default]\nregion = {REGION}\n")).unwrap();
    let t = build(&url, None);
    assert_eq!(t.region(), None);
    let p = ProviderBuilder::new().on_transport(t.clone());
    p.get_block_number().await.unwrap();
    assert_eq!(t.region(), Some(REGION));
    assert_eq!(fake.accepted().len(), 2);

    let _ = std::fs::remove_dir_all(&dir);
}
