//! Variable-size byte messages on the SPSC byte ring, across processes:
//! the [`MessageRing`], and the [`transport`] (server and clients, three
//! priorities) built from it.

mod priority;
mod ring;
pub mod transport;

pub use priority::{Priority, Split};
pub use ring::{Message, MessageReceiver, MessageRing, MessageSender, RECORD_HEADER};
