//! `ProviderBuilder::on_transport`: the one-liner alloy does not have.

use alloy_provider::{ProviderBuilder, ProviderLayer, RootProvider};
use alloy_rpc_client::RpcClient;
use alloy_transport::IntoBoxTransport;

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
