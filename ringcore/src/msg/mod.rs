//! Variable-size byte messages on the SPSC byte ring, across processes.

mod ring;

pub use ring::{Message, MessageReceiver, MessageRing, MessageSender, RECORD_HEADER};
