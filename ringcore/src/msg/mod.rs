//! Variable-size byte messages on the SPSC byte ring, across processes:
//! the [`MessageRing`], and the [`transport`] (server and clients, three
//! priorities) built from it.

mod committed;
pub(crate) mod peek;
mod priority;
mod receiver;
pub mod record;
mod ring;
mod sender;
pub mod transport;

pub use peek::PeekedRecord;
pub use priority::{Priority, Split};
pub use receiver::{Message, MessageReceiver};
pub use record::{MAX_RING_BITS, RECORD_HEADER};
pub use ring::MessageRing;
pub use sender::MessageSender;
