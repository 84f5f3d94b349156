//! iceoryx2 (zero-copy publish-subscribe over shared memory) in the same
//! cross-process workloads as the rest of the `ipc` bench: a 64 B ping-pong
//! over two services, and one-way throughput with the subscriber touching
//! every byte. Built only with `--features bench-iceoryx2`.

use super::{fork, time_round_trips, touch, Rtt};
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

type Pub = Publisher<ipc::Service, [u8], ()>;
type Sub = Subscriber<ipc::Service, [u8], ()>;

/// A fresh service name per use, so runs never meet an old service.
fn service_name(what: &str) -> String {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    format!("ringmpsc-bench/{}/{run}/{what}", std::process::id())
}

/// One process's ends: a publisher on `send_to` and a subscriber on
/// `recv_from` (either may be absent), both for byte slices of up to `max`
/// bytes, the subscriber buffering `buffer` samples and the publisher
/// waiting (never dropping) while that buffer is full.
struct Ends {
    _node: Node<ipc::Service>,
    publisher: Option<Pub>,
    subscriber: Option<Sub>,
}

fn ends(send_to: Option<&str>, recv_from: Option<&str>, max: usize, buffer: usize) -> Ends {
    set_log_level(LogLevel::Error);
    let node = NodeBuilder::new().create::<ipc::Service>().unwrap();
    let open = |name: &str| {
        // Both processes open or create; one of them may lose the race to
        // create and must retry the open, but not forever.
        let mut tries = 0;
        loop {
            let made = node
                .service_builder(&name.try_into().unwrap())
                .publish_subscribe::<[u8]>()
                .subscriber_max_buffer_size(buffer)
                .history_size(0)
                .enable_safe_overflow(false)
                .open_or_create();
            match made {
                Ok(s) => break s,
                Err(e) if tries == 1000 => panic!("iceoryx2 service {name}: {e:?}"),
                Err(_) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    };
    let subscriber = recv_from.map(|n| {
        open(n)
            .subscriber_builder()
            .buffer_size(buffer)
            .create()
            .unwrap()
    });
    let publisher = send_to.map(|n| {
        let service = open(n);
        let p = service
            .publisher_builder()
            .initial_max_slice_len(max)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .unwrap();
        // Samples sent before the peer subscribed would be lost.
        while service.dynamic_config().number_of_subscribers() == 0 {
            std::thread::yield_now();
        }
        p
    });
    Ends {
        _node: node,
        publisher,
        subscriber,
    }
}

fn send(p: &Pub, payload: &[u8]) {
    let sample = p.loan_slice_uninit(payload.len()).unwrap();
    sample.write_from_slice(payload).send().unwrap();
}

pub(super) fn rtt(n: usize) -> Rtt {
    let (ping, pong) = (service_name("ping"), service_name("pong"));
    let total = n + n / 10;
    let child = fork(|| {
        let e = ends(Some(&pong), Some(&ping), 64, 16);
        let (p, s) = (
            e.publisher.as_ref().unwrap(),
            e.subscriber.as_ref().unwrap(),
        );
        for _ in 0..total {
            let m = loop {
                match s.receive().unwrap() {
                    Some(m) => break m,
                    None => std::hint::spin_loop(),
                }
            };
            send(p, m.payload());
        }
    });
    let e = ends(Some(&ping), Some(&pong), 64, 16);
    let (p, s) = (
        e.publisher.as_ref().unwrap(),
        e.subscriber.as_ref().unwrap(),
    );
    let msg = [7u8; 64];
    let r = time_round_trips(n, || {
        send(p, &msg);
        loop {
            if let Some(m) = s.receive().unwrap() {
                assert_eq!(m.payload().len(), 64);
                break;
            }
            std::hint::spin_loop();
        }
    });
    child.collect();
    r
}

/// One-way: the child publishes `count` messages of `size` bytes, written
/// in place (zero copy); the parent receives and touches every byte.
pub(super) fn throughput(count: usize, size: usize) -> f64 {
    let name = service_name("stream");
    // The subscriber must exist before the child publishes.
    let e = ends(None, Some(&name), size, 1024);
    let child = fork(|| {
        let e = ends(Some(&name), None, size, 1024);
        let p = e.publisher.as_ref().unwrap();
        for _ in 0..count {
            let mut sample = p.loan_slice_uninit(size).unwrap();
            for b in sample.payload_mut() {
                b.write(3);
            }
            // SAFETY: every byte was just written.
            unsafe { sample.assume_init() }.send().unwrap();
        }
    });
    let s = e.subscriber.as_ref().unwrap();
    let (mut got, mut sum) = (0usize, 0u64);
    // Timed from the first message: the child's set-up is not counted.
    let mut t = std::time::Instant::now();
    while got < count {
        match s.receive().unwrap() {
            Some(m) => {
                if got == 0 {
                    t = std::time::Instant::now();
                }
                sum = sum.wrapping_add(touch(m.payload()));
                got += 1;
            }
            None => std::hint::spin_loop(),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(sum, 3 * (count * size) as u64);
    child.collect();
    count as f64 / secs
}
