//! A small blocking OpenFlow 1.5 client over a switch's management socket
//! (`$OVS_RUNDIR/br-int.mgmt`), built on `shared::openflow`: for tests that need to ask
//! vswitchd something many times a second, which spawning `ovs-ofctl` (15-20 ms a run)
//! cannot do.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use shared::openflow::flow_match::Match;
use shared::openflow::header::split_frame;
use shared::openflow::messages::{
    FlowStatsRequest, Message, MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody, OfMessage,
    OFPG_ANY, OFPP_ANY, OFPTT_ALL,
};

pub struct OfClient {
    stream: UnixStream,
    buf: Vec<u8>,
    xid: u32,
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl OfClient {
    /// Connect and exchange hellos (OpenFlow 1.5 only).
    pub fn connect(path: &Path) -> io::Result<OfClient> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut c = OfClient { stream, buf: Vec::new(), xid: 0 };
        c.send(Message::Hello { version_bitmap: 1 << 6 })?;
        match c.recv()?.body {
            Message::Hello { .. } => Ok(c),
            other => Err(bad(format!("expected hello, got {other:?}"))),
        }
    }

    /// Send a message; returns its xid.
    pub fn send(&mut self, body: Message) -> io::Result<u32> {
        self.xid = self.xid.wrapping_add(1);
        let bytes = OfMessage::new(self.xid, body).try_encode().map_err(|e| bad(e.to_string()))?;
        self.stream.write_all(&bytes)?;
        Ok(self.xid)
    }

    /// The next message (echo requests are answered and skipped).
    pub fn recv(&mut self) -> io::Result<OfMessage> {
        loop {
            if let Some((frame, _)) = split_frame(&self.buf).map_err(|e| bad(e.to_string()))? {
                let n = frame.len();
                let m = OfMessage::decode(frame).map_err(|e| bad(e.to_string()));
                self.buf.drain(..n);
                let m = m?;
                if let Message::EchoRequest(d) = m.body {
                    let r = OfMessage::new(m.xid, Message::EchoReply(d)).encode();
                    self.stream.write_all(&r)?;
                    continue;
                }
                return Ok(m);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The number of flows in all tables (`OFPMP_AGGREGATE`, as `ovs-ofctl dump-aggregate`).
    pub fn flow_count(&mut self) -> io::Result<u64> {
        let req = FlowStatsRequest {
            table_id: OFPTT_ALL,
            out_port: OFPP_ANY,
            out_group: OFPG_ANY,
            cookie: 0,
            cookie_mask: 0,
            matches: Match::new(),
        };
        let xid = self.send(Message::MultipartRequest(MultipartRequest {
            flags: 0,
            body: MultipartRequestBody::Aggregate(req),
        }))?;
        loop {
            let m = self.recv()?;
            match m.body {
                Message::MultipartReply(MultipartReply { body: MultipartReplyBody::Aggregate(a), .. })
                    if m.xid == xid =>
                {
                    return a.flow_count.map(u64::from).ok_or_else(|| bad("aggregate reply without flow_count".into()));
                }
                Message::Error(e) if m.xid == xid => return Err(bad(format!("aggregate request failed: {e:?}"))),
                _ => {}
            }
        }
    }
}
