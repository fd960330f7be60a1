//! openraft's network over the cluster bus: each replication target gets a client of its
//! own (so a slow peer holds up only its own stream), connected and proven (the bus
//! handshake) on first use.

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use std::sync::Arc;

use super::TypeConfig;
use crate::bus::{Client, Local, Request, Response};

/// Opens a proven bus client per replication target.
pub struct Network {
    pub local: Arc<Local>,
}

pub struct Peer {
    target: u64,
    client: Client,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            target,
            client: Client::new(node.addr.clone(), self.local.clone()),
        }
    }
}

type Rpc<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

impl Peer {
    async fn send(
        &self,
        req: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        self.client
            .call(&req, option.hard_ttl())
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut => {
                    RPCError::Unreachable(Unreachable::new(&e))
                }
                _ => RPCError::Network(NetworkError::new(&e)),
            })
    }
}

/// Transport errors keep their kind whatever the remote error type.
fn transport<E: std::error::Error>(
    e: RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    match e {
        RPCError::Unreachable(u) => RPCError::Unreachable(u),
        RPCError::Network(n) => RPCError::Network(n),
        RPCError::Timeout(t) => RPCError::Timeout(t),
        RPCError::PayloadTooLarge(p) => RPCError::PayloadTooLarge(p),
        RPCError::RemoteError(r) => {
            RPCError::Network(NetworkError::new(&std::io::Error::other(r.to_string())))
        }
    }
}

fn unexpected<E: std::error::Error>(r: Response) -> RPCError<u64, BasicNode, RaftError<u64, E>> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
        "unexpected bus reply {r:?}"
    ))))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<u64>> {
        match self
            .send(Request::Append(rpc), &option)
            .await
            .map_err(transport)?
        {
            Response::Append(Ok(r)) => Ok(r),
            Response::Append(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        match self.send(Request::Snapshot(rpc), &option).await? {
            Response::Snapshot(Ok(r)) => Ok(r),
            Response::Snapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(unexpected(other)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Rpc<VoteResponse<u64>> {
        match self
            .send(Request::Vote(rpc), &option)
            .await
            .map_err(transport)?
        {
            Response::Vote(Ok(r)) => Ok(r),
            Response::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(unexpected(other)),
        }
    }
}
