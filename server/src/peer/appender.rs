//! The follower's end of a replication stream: AppendEntries arriving on one peer
//! connection are fed, in arrival order, to Raft's `stream_append`, which hands them to
//! the Raft core without waiting for each flush, so one WAL fsync covers every request
//! queued meanwhile. Its answers come back one per request, in order, and go back
//! under the request ids they answer. When Raft ends the stream (a conflict, a higher
//! vote, a stop), requests still queued are answered with an error, and the next
//! request starts a new stream.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use openraft::raft::AppendEntriesRequest;
use tokio::sync::mpsc;

use super::outbox::Outbox;
use super::wire::PeerResponse;
use crate::raft::types::{Raft, TypeConfig};

/// Request ids waiting for an answer, oldest first.
#[derive(Default)]
struct Queue {
    ids: VecDeque<(u64, std::time::Instant, u64)>,
    /// The stream behind this queue has ended: nothing more will be answered.
    ended: bool,
}

struct Stream {
    tx: mpsc::UnboundedSender<AppendEntriesRequest<TypeConfig>>,
    queue: Arc<Mutex<Queue>>,
}

/// One per peer connection.
pub struct Appender {
    raft: Raft,
    replies: Arc<Outbox>,
    current: Option<Stream>,
}

fn lock(q: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    q.lock().unwrap_or_else(|p| p.into_inner())
}

impl Appender {
    pub fn new(raft: Raft, replies: Arc<Outbox>) -> Self {
        Self {
            raft,
            replies,
            current: None,
        }
    }

    /// Queues request `id` behind every request received before it.
    pub fn push(&mut self, id: u64, req: AppendEntriesRequest<TypeConfig>) {
        let entries = req.entries.len() as u64;
        let mut req = Some(req);
        for _ in 0..2 {
            let stream = match &self.current {
                Some(s) => s,
                None => self.current.insert(self.start()),
            };
            let mut q = lock(&stream.queue);
            if !q.ended {
                if let Some(r) = req.take() {
                    if let Err(back) = stream.tx.send(r) {
                        req = Some(back.0);
                    } else {
                        q.ids.push_back((id, std::time::Instant::now(), entries));
                        return;
                    }
                }
            }
            drop(q);
            // That stream is over: start another and try once more.
            self.current = None;
        }
        super::server::send_reply(
            &self.replies,
            id,
            PeerResponse::StreamAppend(Err("replication stream ended".into())),
        );
    }

    fn start(&self) -> Stream {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(Queue::default()));
        let (raft, replies, q) = (self.raft.clone(), self.replies.clone(), queue.clone());
        tokio::spawn(async move {
            let input = tokio_stream_from(rx);
            let out = raft.stream_append(input);
            futures::pin_mut!(out);
            while let Some(item) = out.next().await {
                let Some((id, since, entries)) = lock(&q).ids.pop_front() else {
                    tracing::warn!("replication stream answered a request that was never sent");
                    break;
                };
                crate::timings::FOLLOWER_APPEND.record(since, entries);
                let body = PeerResponse::StreamAppend(item.map_err(|fatal| fatal.to_string()));
                super::server::send_reply(&replies, id, body);
            }
            let mut q = lock(&q);
            q.ended = true;
            for (id, _, _) in q.ids.drain(..) {
                super::server::send_reply(
                    &replies,
                    id,
                    PeerResponse::StreamAppend(Err("replication stream ended".into())),
                );
            }
        });
        Stream { tx, queue }
    }
}

/// An unbounded receiver as a `Stream` (the leader bounds what it has in flight).
fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
