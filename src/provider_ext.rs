//! How the transports plug into alloy's `ProviderBuilder`: alloy's own
//! [`TransportConnect`](alloy_transport::TransportConnect) (`connect_with`) for both transports,
//! and `on_transport`, the one-liner alloy does not have.

use alloy_provider::{ProviderBuilder, ProviderLayer, RootProvider};
use alloy_rpc_client::RpcClient;
use alloy_transport::IntoBoxTransport;
#[cfg(any(feature = "http", feature = "ws"))]
use alloy_transport::{BoxTransport, TransportConnect, TransportError};

/// `ProviderBuilder::new().connect_with(&AmbHttp::new(url)?)`, as for alloy's own transports.
///
/// ```no_run
/// use alloy_amb::AmbHttp;
/// use alloy_provider::{Provider, ProviderBuilder};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = AmbHttp::new("https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com")?;
/// let provider = ProviderBuilder::new().connect_with(&transport).await?;
/// println!("{}", provider.get_block_number().await?);
/// # Ok(()) }
/// ```
///
/// Nothing is opened here (the transport connects on the first request); the client counts as
/// local (alloy's shorter polling interval) only for a loopback host.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl TransportConnect for crate::AmbHttp {
    fn is_local(&self) -> bool {
        self.endpoint().is_loopback()
    }

    async fn get_transport(&self) -> Result<BoxTransport, TransportError> {
        Ok(BoxTransport::new(self.clone()))
    }
}

/// `ProviderBuilder::new().connect_with(&AmbWsConnect::new(url)?)`: opens the signed WebSocket and
/// starts alloy's pub/sub service, exactly as
/// [`connect_pubsub_with`](alloy_provider::ProviderBuilder::connect_pubsub_with) does, so the
/// provider can subscribe.
///
/// ```no_run
/// use alloy_amb::AmbWsConnect;
/// use alloy_provider::{Provider, ProviderBuilder};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let ws = AmbWsConnect::new("wss://nd-xxxx.wss.ethereum.managedblockchain.us-east-1.amazonaws.com")?;
/// let provider = ProviderBuilder::new().connect_with(&ws).await?;
/// let mut heads = provider.subscribe_blocks().await?;
/// println!("{}", heads.recv().await?.number);
/// # Ok(()) }
/// ```
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
impl TransportConnect for crate::AmbWsConnect {
    fn is_local(&self) -> bool {
        alloy_pubsub::PubSubConnect::is_local(self)
    }

    async fn get_transport(&self) -> Result<BoxTransport, TransportError> {
        let frontend = alloy_pubsub::PubSubConnect::into_service(self.clone()).await?;
        Ok(BoxTransport::new(frontend))
    }
}

/// Adds [`on_transport`](ProviderBuilderExt::on_transport) to alloy's [`ProviderBuilder`].
///
/// ```no_run
/// use alloy_amb::{AmbHttp, ProviderBuilderExt};
/// use alloy_provider::ProviderBuilder;
/// # fn f() -> Result<(), alloy_amb::AmbError> {
/// let provider = ProviderBuilder::new()
///     .on_transport(AmbHttp::new("https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com")?);
/// # Ok(()) }
/// ```
///
/// It is the same as the plain-alloy form:
///
/// ```no_run
/// use alloy_amb::AmbHttp;
/// use alloy_provider::ProviderBuilder;
/// use alloy_rpc_client::RpcClient;
/// # fn f() -> Result<(), alloy_amb::AmbError> {
/// let transport = AmbHttp::new("https://nd-xxxx.ethereum.managedblockchain.us-east-1.amazonaws.com")?;
/// let provider = ProviderBuilder::new().connect_client(RpcClient::new(transport, false));
/// # Ok(()) }
/// ```
pub trait ProviderBuilderExt<L, F, N: alloy_provider::network::Network> {
    /// Finishes the builder over `transport` (an [`AmbHttp`](crate::AmbHttp) or any alloy
    /// transport), with an [`RpcClient`] that treats the endpoint as remote.
    fn on_transport<T: IntoBoxTransport>(self, transport: T) -> F::Provider
    where
        L: ProviderLayer<RootProvider<N>, N>,
        F: alloy_provider::fillers::TxFiller<N> + ProviderLayer<L::Provider, N>;
}

impl<L, F, N: alloy_provider::network::Network> ProviderBuilderExt<L, F, N>
    for ProviderBuilder<L, F, N>
{
    fn on_transport<T: IntoBoxTransport>(self, transport: T) -> F::Provider
    where
        L: ProviderLayer<RootProvider<N>, N>,
        F: alloy_provider::fillers::TxFiller<N> + ProviderLayer<L::Provider, N>,
    {
        self.connect_client(RpcClient::new(transport, false))
    }
}
