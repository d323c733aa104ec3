//! Framing of the transfer protocol on a libp2p stream: one message per
//! stream, read to its end with a hard cap before any decoding, then decoded
//! by `quince_protocol::wire`.

use std::io;

use futures::prelude::*;
use libp2p::StreamProtocol;
use quince_protocol::codec::{Decode, Encode};
use quince_protocol::wire::{Request, Response, MAX_WIRE_REQUEST_BYTES, MAX_WIRE_RESPONSE_BYTES};

/// The transfer protocol's name.
pub const TRANSFER_PROTOCOL: StreamProtocol = StreamProtocol::new("/quince/transfer/1");

/// The request/response codec.
#[derive(Debug, Clone, Default)]
pub struct TransferCodec;

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
        Response::from_bytes(&read_capped(io, MAX_WIRE_RESPONSE_BYTES + 5).await?).map_err(invalid)
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
        io.write_all(&res.to_bytes()).await?;
        io.close().await
    }
}
