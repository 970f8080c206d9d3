//! The Watch service: one bidirectional gRPC stream per client stream, carrying any
//! number of watchers, over the member's [`WatchHub`](crate::watch::WatchHub).
//!
//! Per stream two tasks: a reader (create / cancel / progress requests into the hub)
//! and a writer (woken when the hub has output for the stream; takes it and sends
//! it). A slow client backs up the writer's bounded channel; the hub then stops
//! queueing for the stream (its watchers fall back to catching up from history), so
//! apply is never blocked. [`run_watch_sync`] catches up unsynced watchers every
//! [`SYNC_INTERVAL`] (as etcd's 100 ms) and sends periodic progress notifications.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::Credentials;
use super::{convert, Ctx};
use crate::auth::Access;
use crate::error::Error;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::watch_request::RequestUnion;
use crate::proto::etcdserverpb::watch_server::Watch;
use crate::raft::state_machine::SmShared;
use crate::shutdown::Shutdown;
use crate::watch::{FilterType, WatchCreateRequest, WatchResponse};

/// How often unsynced watchers are caught up from history.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// Events read from history per catch-up round.
const SYNC_BATCH_EVENTS: usize = 1000;
/// Responses a stream's writer may hold for a slow client.
const SEND_BACKLOG: usize = 16;
/// Encoded bytes of responses a stream may have queued before its reader stops
/// taking requests from the client (until the writer drains them): a client that
/// sends creates and never reads its answers holds a bounded amount of this
/// member's memory, as etcd's recvLoop blocks on its full control channel.
const READER_PAUSE_BYTES: usize = 64 << 10;

pub struct WatchService {
    pub ctx: Ctx,
}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send + 'static>>;

fn create_request(r: pb::WatchCreateRequest) -> WatchCreateRequest {
    let filters = r
        .filters
        .iter()
        .filter_map(|f| match f {
            0 => Some(FilterType::NoPut),
            1 => Some(FilterType::NoDelete),
            _ => None,
        })
        .collect();
    WatchCreateRequest {
        key: r.key,
        range_end: r.range_end,
        start_revision: r.start_revision,
        progress_notify: r.progress_notify,
        filters,
        prev_kv: r.prev_kv,
        watch_id: r.watch_id,
        fragment: r.fragment,
    }
}

fn response_to_pb(ctx: &Ctx, r: WatchResponse) -> pb::WatchResponse {
    pb::WatchResponse {
        header: ctx.header(r.header_revision),
        watch_id: r.watch_id,
        created: r.created,
        canceled: r.canceled,
        compact_revision: r.compact_revision,
        cancel_reason: r.cancel_reason,
        fragment: r.fragment,
        events: r.events.into_iter().map(convert::event_to_pb).collect(),
    }
}

/// etcd's cancel reason for a create refused by auth: the whole gRPC status text.
fn refusal_reason(e: &Status) -> String {
    let code = match e.code() {
        tonic::Code::Unauthenticated => "Unauthenticated",
        tonic::Code::InvalidArgument => "InvalidArgument",
        _ => "PermissionDenied",
    };
    let message = match e.code() {
        tonic::Code::Unauthenticated | tonic::Code::InvalidArgument => e.message().to_string(),
        _ => Error::PermissionDenied.message(),
    };
    format!("rpc error: code = {code} desc = {message}")
}

/// Whether the stream's caller may watch what `c` asks for, judged now.
async fn may_watch(ctx: &Ctx, creds: &Credentials, c: &pb::WatchCreateRequest) -> Result<(), Status> {
    let who = ctx.identity_of(creds).await?;
    let key: &[u8] = if c.key.is_empty() { &[0] } else { &c.key };
    ctx.check_access(&who, &[Access::Read { key, range_end: &c.range_end }])
}

/// Handle one client request on stream `id`.
async fn handle(ctx: &Ctx, creds: &Credentials, id: u64, req: pb::WatchRequest) {
    let shared = ctx.node.state();
    match req.request_union {
        Some(RequestUnion::CreateRequest(c)) => {
            if let Err(e) = may_watch(ctx, creds, &c).await {
                shared.watch_hub().refuse(id, refusal_reason(&e));
                let mut hub = shared.watch_hub();
                shared.wake_watch_streams(&mut hub);
                return;
            }
            let past = c.start_revision > 0;
            shared.watch_hub().create(id, &create_request(c));
            if past {
                shared.sync_watchers(SYNC_BATCH_EVENTS);
            }
        }
        Some(RequestUnion::CancelRequest(c)) => {
            shared.watch_hub().cancel(id, c.watch_id);
        }
        Some(RequestUnion::ProgressRequest(_)) => shared.watch_hub().request_progress(id),
        None => {}
    }
    let mut hub = shared.watch_hub();
    shared.wake_watch_streams(&mut hub);
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let creds = Credentials::of(&request);
        Ok(Response::new(self.open(creds, request.into_inner())))
    }
}

impl WatchService {
    /// One watch stream: `requests` (from any face: gRPC, the JSON gateway) made by
    /// `creds`, answered on the returned stream.
    pub fn open<S>(&self, creds: Credentials, mut requests: S) -> WatchStream
    where
        S: Stream<Item = Result<pb::WatchRequest, Status>> + Send + Unpin + 'static,
    {
        let shared = self.ctx.node.state().clone();
        let (id, waker) = shared.open_watch_stream();
        let done = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::mpsc::channel(SEND_BACKLOG);
        // The writer's signal that it drained the stream's queue (or ended).
        let room = Arc::new(tokio::sync::Notify::new());

        let (reader_ctx, reader_done, reader_waker) = (self.ctx.clone(), done.clone(), waker.clone());
        let (reader_shared, reader_room) = (shared.clone(), room.clone());
        crate::env::spawn(async move {
            // A client that closes its sending side keeps receiving, as from etcd;
            // a broken stream ends the watch.
            loop {
                while reader_shared.watch_hub().pending_bytes(id) > READER_PAUSE_BYTES {
                    reader_room.notified().await;
                }
                let Some(next) = requests.next().await else { return };
                match next {
                    Ok(req) => handle(&reader_ctx, &creds, id, req).await,
                    Err(_) => {
                        reader_done.store(true, Ordering::SeqCst);
                        reader_waker.notify_one();
                        return;
                    }
                }
            }
        });

        let ctx = self.ctx.clone();
        let max_bytes = ctx.max_request_bytes.saturating_add(512 * 1024);
        crate::env::spawn(async move {
            'stream: while !done.load(Ordering::SeqCst) {
                tokio::select! {
                    () = waker.notified() => {}
                    () = tx.closed() => break 'stream,
                }
                let responses = shared.watch_hub().take(id, max_bytes);
                room.notify_one();
                for r in responses {
                    if tx.send(Ok(response_to_pb(&ctx, r))).await.is_err() {
                        break 'stream;
                    }
                }
                // What the stream's budget held back is now room: let catch-up refill it.
                shared.sync_watchers(SYNC_BATCH_EVENTS);
            }
            shared.close_watch_stream(id);
            room.notify_one();
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

/// Catch up unsynced watchers every [`SYNC_INTERVAL`]; send progress notifications
/// every `progress_interval` (0: never). Runs until `shutdown`.
pub async fn run_watch_sync(shared: Arc<SmShared>, progress_interval: Duration, shutdown: Shutdown) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let ticks_per_progress = (progress_interval.as_millis() / SYNC_INTERVAL.as_millis()).max(1) as u64;
    let mut tick: u64 = 0;
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(SYNC_INTERVAL) => {}
        }
        tick += 1;
        shared.sync_watchers(SYNC_BATCH_EVENTS);
        if !progress_interval.is_zero() && tick % ticks_per_progress == 0 {
            let mut hub = shared.watch_hub();
            hub.progress_all();
            shared.wake_watch_streams(&mut hub);
        }
    }
}
