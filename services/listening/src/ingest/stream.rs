//! Streamed ingest: mentions arrive one message at a time, are stored in
//! batches (at most [`MAX_BATCH`] and at most [`LINGER`] after the first one
//! waited), two batches in flight at once, and are acknowledged in order.

use std::time::Duration;

use earshot_proto::listening::v1::{IngestStatus, MentionInput, StreamMentionsAck};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::{Ingestor, MAX_BATCH, reindex};

/// How long a partial batch waits for more mentions before it is stored.
pub const LINGER: Duration = Duration::from_millis(20);
/// Batches stored concurrently: two writers reach about twice one's rate.
pub const IN_FLIGHT: usize = 2;

/// Cuts a stream of mention messages into batches of at most `MAX_BATCH`,
/// flushing a partial batch after `LINGER`. Each batch carries the stream
/// position of its first mention. When `shutdown` fires it stops reading,
/// flushes what it holds and ends, so the last ack tells the client where to resume.
pub async fn batch<S>(
    mut incoming: S,
    batches: mpsc::Sender<Result<(u64, Vec<MentionInput>), tonic::Status>>,
    shutdown: CancellationToken,
) where
    S: futures_util::Stream<Item = Result<Vec<MentionInput>, tonic::Status>> + Unpin,
{
    let mut position = 0u64;
    let mut buffer: Vec<MentionInput> = Vec::with_capacity(MAX_BATCH);
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled() => None,
            next = incoming.next() => next,
            () = async { tokio::time::sleep_until(deadline.expect("guarded")).await }, if deadline.is_some() => {
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(MAX_BATCH));
                let start = position - full.len() as u64;
                deadline = None;
                if batches.send(Ok((start, full))).await.is_err() {
                    return;
                }
                continue;
            }
        };
        match next {
            Some(Ok(mentions)) => {
                for mention in mentions {
                    buffer.push(mention);
                    position += 1;
                    if buffer.len() == MAX_BATCH {
                        let full = std::mem::replace(&mut buffer, Vec::with_capacity(MAX_BATCH));
                        deadline = None;
                        if batches
                            .send(Ok((position - MAX_BATCH as u64, full)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                if !buffer.is_empty() && deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + LINGER);
                }
            }
            Some(Err(status)) => {
                let _ = batches.send(Err(status)).await;
                return;
            }
            None => {
                if !buffer.is_empty() {
                    let start = position - buffer.len() as u64;
                    let _ = batches.send(Ok((start, buffer))).await;
                }
                return;
            }
        }
    }
}

/// Stores batches (up to [`IN_FLIGHT`] at once) and sends one ack per batch, in order.
pub async fn store_and_ack(
    ingestor: Ingestor,
    tenant_id: String,
    batches: mpsc::Receiver<Result<(u64, Vec<MentionInput>), tonic::Status>>,
    acks: mpsc::Sender<Result<StreamMentionsAck, tonic::Status>>,
) {
    let mut stored = ReceiverStream::new(batches)
        .map(|batch| {
            let (ingestor, tenant_id) = (ingestor.clone(), tenant_id.clone());
            async move {
                let (start, mentions) = batch?;
                let count = mentions.len() as u64;
                let response = ingestor
                    .ingest(&tenant_id, mentions)
                    .await
                    .map_err(tonic::Status::from)?;
                let (mut rejections, mut accepted_items) = (Vec::new(), Vec::new());
                for mut r in response.results {
                    let position = r.index + start;
                    reindex(&mut r, position);
                    if r.status == IngestStatus::Rejected as i32 {
                        rejections.push(r);
                    } else if r.status == IngestStatus::Accepted as i32 {
                        accepted_items.push(r);
                    }
                }
                Ok::<_, tonic::Status>(StreamMentionsAck {
                    durable_through: start + count,
                    accepted: response.accepted,
                    duplicates: response.duplicates,
                    rejected: response.rejected,
                    rejections,
                    accepted_items,
                })
            }
        })
        .buffered(IN_FLIGHT);
    while let Some(ack) = stored.next().await {
        let failed = ack.is_err();
        if acks.send(ack).await.is_err() || failed {
            // The client left, or storing failed: what was acknowledged stays stored.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mention(i: usize) -> MentionInput {
        MentionInput {
            external_id: i.to_string(),
            ..Default::default()
        }
    }

    async fn batches_of(messages: Vec<Vec<MentionInput>>) -> Vec<(u64, usize)> {
        let (tx, mut rx) = mpsc::channel(16);
        let incoming = futures_util::stream::iter(messages.into_iter().map(Ok));
        tokio::spawn(batch(incoming, tx, CancellationToken::new()));
        let mut out = Vec::new();
        while let Some(Ok((start, mentions))) = rx.recv().await {
            out.push((start, mentions.len()));
        }
        out
    }

    #[tokio::test]
    async fn large_messages_are_cut_into_full_batches_with_positions() {
        let one_message: Vec<MentionInput> = (0..2_500).map(mention).collect();
        assert_eq!(
            batches_of(vec![one_message]).await,
            vec![(0, 1000), (1000, 1000), (2000, 500)]
        );
    }

    #[tokio::test]
    async fn small_messages_are_gathered() {
        let messages: Vec<Vec<MentionInput>> = (0..1_200).map(|i| vec![mention(i)]).collect();
        assert_eq!(batches_of(messages).await, vec![(0, 1000), (1000, 200)]);
    }

    #[tokio::test]
    async fn shutdown_flushes_what_was_received_and_ends_the_stream() {
        let (tx, mut rx) = mpsc::channel(4);
        let (feed, incoming) = mpsc::channel(4);
        let shutdown = CancellationToken::new();
        let batcher = tokio::spawn(batch(ReceiverStream::new(incoming), tx, shutdown.clone()));
        feed.send(Ok(vec![mention(0)])).await.expect("open");
        tokio::task::yield_now().await;
        shutdown.cancel();
        batcher
            .await
            .expect("ends although the client keeps its stream open");
        let (start, mentions) = rx.recv().await.expect("flushed").expect("ok");
        assert_eq!((start, mentions.len()), (0, 1));
        assert!(rx.recv().await.is_none(), "no more batches");
        drop(feed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_batch_is_flushed_after_the_linger() {
        let (tx, mut rx) = mpsc::channel(4);
        let (feed, incoming) = mpsc::channel(4);
        tokio::spawn(batch(
            ReceiverStream::new(incoming),
            tx,
            CancellationToken::new(),
        ));
        feed.send(Ok(vec![mention(0), mention(1)]))
            .await
            .expect("open");
        // The stream stays open: only the linger can flush these two.
        let (start, mentions) = rx.recv().await.expect("flushed").expect("ok");
        assert_eq!((start, mentions.len()), (0, 2));
        feed.send(Ok(vec![mention(2)])).await.expect("open");
        drop(feed);
        let (start, mentions) = rx.recv().await.expect("flushed").expect("ok");
        assert_eq!((start, mentions.len()), (2, 1));
    }
}
