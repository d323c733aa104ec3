//! Framing of the transfer protocol on a libp2p stream: one message per
//! stream, read to its end with a hard cap before any decoding, then decoded
//! by `quince_protocol::wire`. An answer is written in pieces, and a peer
//! that takes none of a piece for [`WRITE_STALL`] gets its stream dropped:
//! what the node holds for it is freed long before the request times out.

use std::io;
use std::time::Duration;

use futures::prelude::*;
use libp2p::StreamProtocol;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::wire::{Request, Response, MAX_WIRE_REQUEST_BYTES, MAX_WIRE_RESPONSE_BYTES};

/// The transfer protocol's name.
pub const TRANSFER_PROTOCOL: StreamProtocol = StreamProtocol::new("/quince/transfer/1");

/// How long a peer may take none of an answer before its stream is dropped
/// (a piece is [`WRITE_PIECE`] bytes: at least 6.5 KB/s per stream).
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// How much of an answer is written at a time.
pub const WRITE_PIECE: usize = 64 * 1024;

/// The request/response codec.
#[derive(Debug, Clone)]
pub struct TransferCodec {
    /// See [`WRITE_STALL`].
    pub write_stall: Duration,
}

impl Default for TransferCodec {
    fn default() -> Self {
        TransferCodec {
            write_stall: WRITE_STALL,
        }
    }
}

/// Writes `bytes` and closes, failing with `TimedOut` if the other side
/// takes none of a piece within `stall`.
async fn write_watched<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
    stall: Duration,
) -> io::Result<()> {
    let stalled = || {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the peer read none of the answer for {} s",
                stall.as_secs_f32()
            ),
        )
    };
    for piece in bytes.chunks(WRITE_PIECE) {
        tokio::time::timeout(stall, io.write_all(piece))
            .await
            .map_err(|_| stalled())??;
    }
    tokio::time::timeout(stall, io.close())
        .await
        .map_err(|_| stalled())?
}

async fn read_capped<T: AsyncRead + Unpin + Send>(io: &mut T, cap: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(cap as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message larger than {cap} bytes"),
        ));
    }
    Ok(buf)
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl libp2p::request_response::Codec for TransferCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Request::from_bytes(&read_capped(io, MAX_WIRE_REQUEST_BYTES).await?).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_capped(io, MAX_WIRE_RESPONSE_BYTES + 5).await?;
        if bytes.is_empty() {
            // The peer closed the stream without answering (a node from
            // before a request kind drops what it cannot read): no answer,
            // not a broken one.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the stream without an answer",
            ));
        }
        Response::from_bytes(&bytes).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&req.to_bytes()).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_watched(io, &res.to_bytes(), self.write_stall).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A writer that takes `room` bytes and then nothing.
    struct Full {
        room: usize,
        taken: usize,
    }

    impl AsyncWrite for Full {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.room - self.taken);
            if n == 0 {
                return Poll::Pending;
            }
            self.taken += n;
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn an_answer_the_peer_stops_reading_fails_after_the_stall_and_one_it_reads_goes() {
        use libp2p::request_response::Codec as _;
        let mut codec = TransferCodec {
            write_stall: Duration::from_millis(200),
        };
        let answer = Response::Data(vec![7; 300 * 1024]);
        let protocol = TRANSFER_PROTOCOL;
        let mut stuck = Full {
            room: 256 * 1024,
            taken: 0,
        };
        let started = std::time::Instant::now();
        let e = codec
            .write_response(&protocol, &mut stuck, answer.clone())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(stuck.taken, 256 * 1024);
        let mut open = Full {
            room: usize::MAX,
            taken: 0,
        };
        codec
            .write_response(&protocol, &mut open, answer)
            .await
            .unwrap();
        assert_eq!(open.taken, 300 * 1024 + 5);
    }
}
