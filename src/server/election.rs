//! The Election service (etcd's v3election): Campaign waits until the candidate's
//! key `<name>/<lease hex>` is the oldest under `<name>/` (see `concurrency`);
//! Proclaim changes the leader's value while it still leads; Leader and Observe report
//! the oldest key; Resign deletes the leader's key. Errors as etcd's server returns
//! them ("election: not leader", "election: no leader", with gRPC code Unknown).

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::concurrency::{acquire, check_read_prefix, oldest, txn, PrefixWatch};
use super::lock::plain;
use super::{convert, Ctx};
use crate::mvcc::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, EventType, PutRequest, RequestOp, TxnRequest,
};
use crate::proto::v3electionpb as pb;
use crate::proto::v3electionpb::election_server::Election;

pub struct ElectionService {
    pub ctx: Ctx,
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<pb::LeaderResponse, Status>> + Send + 'static>>;

fn prefix_of(name: &[u8]) -> Vec<u8> {
    let mut p = name.to_vec();
    p.push(b'/');
    p
}

fn still_leads(leader: &pb::LeaderKey) -> Compare {
    Compare {
        result: CompareResult::Equal,
        target: CompareTarget::Create(leader.rev),
        key: leader.key.clone(),
        range_end: vec![],
    }
}

fn missing_leader() -> Status {
    Status::unknown("\"leader\" field must be provided")
}

impl ElectionService {
    fn leader_response(&self, name: &[u8]) -> Result<Option<pb::LeaderResponse>, Status> {
        let (kv, rev) = oldest(&self.ctx, &prefix_of(name))?;
        Ok(kv.map(|kv| pb::LeaderResponse {
            header: self.ctx.header(rev),
            kv: Some(convert::key_value_to_pb(kv)),
        }))
    }
}

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(
        &self,
        request: Request<pb::CampaignRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        self.campaign_inner(request).await.map_err(plain)
    }

    async fn proclaim(
        &self,
        request: Request<pb::ProclaimRequest>,
    ) -> Result<Response<pb::ProclaimResponse>, Status> {
        self.proclaim_inner(request).await.map_err(plain)
    }

    async fn leader(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<pb::LeaderResponse>, Status> {
        self.leader_inner(request).await.map_err(plain)
    }

    type ObserveStream = ObserveStream;

    async fn observe(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let stream = self.observe_inner(request).await.map_err(plain)?.into_inner();
        let plain_errors: ObserveStream = Box::pin(stream.map(|item| item.map_err(plain)));
        Ok(Response::new(plain_errors))
    }

    async fn resign(
        &self,
        request: Request<pb::ResignRequest>,
    ) -> Result<Response<pb::ResignResponse>, Status> {
        self.resign_inner(request).await.map_err(plain)
    }
}

/// The calls themselves; their errors leave as etcd's (see [`plain`]).
impl ElectionService {
    async fn campaign_inner(
        &self,
        request: Request<pb::CampaignRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        let held = acquire(&self.ctx, &who, &prefix_of(&req.name), req.lease, &req.value).await?;
        let leader =
            pb::LeaderKey { name: req.name, key: held.key, rev: held.create_revision, lease: req.lease };
        Ok(Response::new(pb::CampaignResponse { header: self.ctx.current_header(), leader: Some(leader) }))
    }

    async fn proclaim_inner(
        &self,
        request: Request<pb::ProclaimRequest>,
    ) -> Result<Response<pb::ProclaimResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        let leader = req.leader.ok_or_else(missing_leader)?;
        let put = RequestOp::Put(PutRequest {
            key: leader.key.clone(),
            value: req.value,
            lease: leader.lease,
            ..Default::default()
        });
        let (resp, revision) = txn(
            &self.ctx,
            &who,
            TxnRequest { compare: vec![still_leads(&leader)], success: vec![put], failure: vec![] },
        )
        .await?;
        if !resp.succeeded {
            return Err(Status::unknown("election: not leader"));
        }
        Ok(Response::new(pb::ProclaimResponse { header: self.ctx.header(revision) }))
    }

    async fn leader_inner(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<pb::LeaderResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let name = request.into_inner().name;
        self.ctx.read_barrier().await?;
        check_read_prefix(&self.ctx, &who, &prefix_of(&name))?;
        self.leader_response(&name)?.map(Response::new).ok_or_else(|| Status::unknown("election: no leader"))
    }

    async fn observe_inner(
        &self,
        request: Request<pb::LeaderRequest>,
    ) -> Result<Response<ObserveStream>, Status> {
        let who = self.ctx.identity(&request).await?;
        let name = request.into_inner().name;
        check_read_prefix(&self.ctx, &who, &prefix_of(&name))?;
        let service = ElectionService { ctx: self.ctx.clone() };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        crate::env::spawn(async move {
            let prefix = prefix_of(&name);
            // Opened before the first look, so no change slips between the two.
            let mut watch = PrefixWatch::open(&service.ctx, &prefix);
            // The leader's key, create and mod revisions, as last sent.
            let mut last: Option<(Vec<u8>, i64, i64)> = None;
            loop {
                // Every change under the prefix wakes us; the watch's puts on the
                // leader's key are its proclamations, each sent in order.
                let current = match service.leader_response(&name) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                if let Some(resp) = current {
                    let kv = resp.kv.as_ref().map(|kv| (kv.key.clone(), kv.create_revision, kv.mod_revision));
                    if kv != last {
                        last = kv;
                        if tx.send(Ok(resp)).await.is_err() {
                            return;
                        }
                    }
                }
                let events = tokio::select! {
                    events = watch.changed() => events,
                    () = tx.closed() => return,
                };
                for (revision, event) in events {
                    let Some((key, created, sent)) = &last else { break };
                    let kv = &event.kv;
                    let proclaimed = event.kind == EventType::Put
                        && kv.key == *key
                        && kv.create_revision == *created
                        && kv.mod_revision > *sent;
                    if !proclaimed {
                        continue;
                    }
                    last = Some((kv.key.clone(), kv.create_revision, kv.mod_revision));
                    let resp = pb::LeaderResponse {
                        header: service.ctx.header(revision),
                        kv: Some(convert::key_value_to_pb(event.kv)),
                    };
                    if tx.send(Ok(resp)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn resign_inner(
        &self,
        request: Request<pb::ResignRequest>,
    ) -> Result<Response<pb::ResignResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let leader = request.into_inner().leader.ok_or_else(missing_leader)?;
        let delete =
            RequestOp::DeleteRange(DeleteRangeRequest { key: leader.key.clone(), ..Default::default() });
        let (_, revision) = txn(
            &self.ctx,
            &who,
            TxnRequest { compare: vec![still_leads(&leader)], success: vec![delete], failure: vec![] },
        )
        .await?;
        Ok(Response::new(pb::ResignResponse { header: self.ctx.header(revision) }))
    }
}
