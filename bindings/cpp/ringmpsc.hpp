// ringmpsc C++ wrapper: header-only, move-only RAII types over every part
// of ringmpsc.h (C++17 or later, linked with libringmpsc):
//
//   Ring<T>, SharedRing<T>                 SPSC rings of T, in-process or shared
//   ProducerLease<T>, ConsumerLease<T>     a ring side on the inline fast path
//   LocalProducer<T>, LocalConsumer<T>     the same on a local copy (with_local)
//   MessageRing, MessageSender, MessageReceiver   byte messages in shared memory
//   BufferPool                             fixed-size slabs, heap or shared
//   Notifier                               eventfd signalled after commits
//   MpscChannel<T>, EventLoop              a ring per producer, one consumer
//   SpmcChannel<T>, MpmcChannel<T>, Consumer<T>   CAS-claimed work sharing
//   Server, Client                         request/response with three priorities
//   LogWriter, LogReader                   the persistent mmap log
//   Metrics, Permissions, FdServer, UniqueFd, connect_unix/send_fd/recv_fd,
//   shm::remove_if_stale, numa::*
//
// Error model. A failed call throws ringmpsc::Error carrying the RMPSC_E*
// code (`code()`), as a subclass per code (Closed, Timeout, Busy,
// Disconnected, ...), so a caller catches what it can handle and lets the
// rest propagate: the C API's errors are rare and not worth checking call by
// call, and constructors, which cannot return a code, report the same way
// as every other call. The outcomes a caller polls for are not errors and
// come back as values: "full" is false / 0 / an empty span / nullptr from
// try_send, send, reserve, claim and alloc; "empty" is std::nullopt / 0 from
// try_recv, recv, consume and try_read. A call that moved part of its items
// returns the count (Ring::send_all at its deadline) rather than throwing
// it away. Every receive of a closed ring or channel throws Closed once it is
// drained (try_recv, recv, recv_blocking, peek, consume alike), and a
// range-for over one ends there without an exception. (A log is a file that
// a later writer may extend: see LogReader.)
//
// Callables handed to consume, drain, serve, recv_batch and EventLoop run
// inside a C call, which an exception must not cross: the wrapper catches
// it, keeps handing the remaining items of that call to the callable (they
// are already taken off the ring) and rethrows the first exception when the
// C call returns (an EventLoop's from stop()).
//
// Timeouts are std::optional<std::chrono::nanoseconds>: std::nullopt waits
// without limit, zero or a negative duration does not wait.
#ifndef RINGMPSC_HPP
#define RINGMPSC_HPP

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if __has_include(<version>)
#include <version>
#endif
#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
#include <span>
#endif

#include <unistd.h>

#include "ringmpsc.h"

namespace ringmpsc {

// ---------------------------------------------------------------- errors

/// A failed call: `code()` is the RMPSC_E* value, `what()` the reason.
class Error : public std::runtime_error {
  public:
    Error(int code, const std::string &what) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

#define RINGMPSC_ERROR_CLASS(Name, Code)                                                 \
    class Name : public Error {                                                          \
      public:                                                                            \
        explicit Name(const std::string &what) : Error(Code, what) {}                    \
    };
/// An argument is NULL, out of range or inconsistent, or a handle was moved from.
RINGMPSC_ERROR_CLASS(InvalidArgument, RMPSC_EINVAL)
/// No room, where that is a failure rather than a polled outcome (a client
/// finding every slot taken, Client::send_many under RMPSC_POLICY_FAIL).
RINGMPSC_ERROR_CLASS(Full, RMPSC_EFULL)
/// Nothing to read, where that is a failure (Client::recv_batch never throws it).
RINGMPSC_ERROR_CLASS(Empty, RMPSC_EEMPTY)
/// The ring or channel is closed (for receives: and drained).
RINGMPSC_ERROR_CLASS(Closed, RMPSC_ECLOSED)
/// A blocking call reached its timeout.
RINGMPSC_ERROR_CLASS(Timeout, RMPSC_ETIMEDOUT)
/// A message is larger than allowed or than the buffer given.
RINGMPSC_ERROR_CLASS(TooLarge, RMPSC_ETOOLARGE)
/// Shared state written by another process is inconsistent.
RINGMPSC_ERROR_CLASS(Corrupt, RMPSC_ECORRUPT)
/// A segment or file header does not match what was expected.
RINGMPSC_ERROR_CLASS(HeaderMismatch, RMPSC_EHEADER)
/// An operating-system call failed.
RINGMPSC_ERROR_CLASS(IoError, RMPSC_EIO)
/// The side is in use by another thread.
RINGMPSC_ERROR_CLASS(Busy, RMPSC_EBUSY)
/// No room for another producer or consumer.
RINGMPSC_ERROR_CLASS(TooMany, RMPSC_ETOOMANY)
/// The peer process went away (or a log's writer died).
RINGMPSC_ERROR_CLASS(Disconnected, RMPSC_EDISCONNECTED)
/// An internal error caught at the C boundary (a bug: please report it).
RINGMPSC_ERROR_CLASS(Panic, RMPSC_EPANIC)
/// A log reader asked for records that retention already deleted.
RINGMPSC_ERROR_CLASS(Behind, RMPSC_EBEHIND)
#undef RINGMPSC_ERROR_CLASS

/// Short description of an RMPSC_E* code.
inline const char *describe(int code) noexcept { return rmpsc_error_describe(code); }

/// The version of the library loaded at run time ("major.minor.patch"),
/// to compare with RMPSC_VERSION_* of the header compiled against.
inline std::string library_version() { return rmpsc_library_version(); }

namespace detail {

/// Throws the exception of `rc` (never RMPSC_OK); `recorded`: the call
/// left its reason in rmpsc_error_message().
[[noreturn]] inline void raise(int rc, const char *call, bool recorded = true) {
    // The polled outcomes leave rmpsc_error_message() as it was: describe them.
    const char *why = (!recorded || rc == RMPSC_EFULL || rc == RMPSC_EEMPTY) ? rmpsc_error_describe(rc)
                                                                              : rmpsc_error_message();
    std::string what = std::string(call) + ": " + (why && *why ? why : rmpsc_error_describe(rc));
    switch (rc) {
    case RMPSC_EINVAL: throw InvalidArgument(what);
    case RMPSC_EFULL: throw Full(what);
    case RMPSC_EEMPTY: throw Empty(what);
    case RMPSC_ECLOSED: throw Closed(what);
    case RMPSC_ETIMEDOUT: throw Timeout(what);
    case RMPSC_ETOOLARGE: throw TooLarge(what);
    case RMPSC_ECORRUPT: throw Corrupt(what);
    case RMPSC_EHEADER: throw HeaderMismatch(what);
    case RMPSC_EIO: throw IoError(what);
    case RMPSC_EBUSY: throw Busy(what);
    case RMPSC_ETOOMANY: throw TooMany(what);
    case RMPSC_EDISCONNECTED: throw Disconnected(what);
    case RMPSC_EPANIC: throw Panic(what);
    case RMPSC_EBEHIND: throw Behind(what);
    default: throw Error(rc, what);
    }
}

inline void check(int rc, const char *call) {
    if (rc != RMPSC_OK) raise(rc, call);
}

/// check() for the inline functions of ringmpsc_lease.h, which leave a
/// reason in rmpsc_error_message() only with RMPSC_ECORRUPT.
inline void check_inline(int rc, const char *call) {
    if (rc != RMPSC_OK) raise(rc, call, rc == RMPSC_ECORRUPT);
}

/// Closed, for a closed-and-drained state the C call reports as "nothing".
[[noreturn]] inline void raise_closed(const char *call) {
    throw Closed(std::string(call) + ": " + rmpsc_error_describe(RMPSC_ECLOSED));
}

using OptNs = std::optional<std::chrono::nanoseconds>;

/// A C timeout: -1 for no limit, a negative duration is 0 (do not wait).
inline std::int64_t to_ns(OptNs t) noexcept {
    if (!t) return -1;
    return t->count() < 0 ? 0 : static_cast<std::int64_t>(t->count());
}

/// One deadline across several C calls (a send of all items, a retry loop).
class Deadline {
  public:
    explicit Deadline(OptNs timeout) {
        if (!timeout) return;
        const auto now = std::chrono::steady_clock::now();
        const auto t = std::max(*timeout, std::chrono::nanoseconds(0));
        // A limit beyond the clock's range is no limit.
        if (t < std::chrono::steady_clock::time_point::max() - now) end_ = now + t;
    }
    /// Nanoseconds left for the next C call (-1: no limit, 0: passed).
    std::int64_t left_ns() const {
        if (!end_) return -1;
        const auto left = *end_ - std::chrono::steady_clock::now();
        return left.count() <= 0
                   ? 0
                   : static_cast<std::int64_t>(
                         std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
    }

  private:
    std::optional<std::chrono::steady_clock::time_point> end_;
};

/// Owns one C handle and frees it with `Free`; move-only.
template <typename H, void (*Free)(H *)> class Handle {
  public:
    Handle() = default;
    explicit Handle(H *h) noexcept : h_(h) {}
    ~Handle() { Free(h_); }
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    Handle &operator=(Handle &&o) noexcept {
        if (this != &o) {
            Free(h_);
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    H *get() const noexcept { return h_; }
    H **out() noexcept { return &h_; }

  private:
    H *h_ = nullptr;
};

/// A callable run inside a C call, and the first exception it threw.
template <typename F> struct Callback {
    F *f;
    std::exception_ptr error;
    void rethrow() {
        if (error) std::rethrow_exception(std::exchange(error, nullptr));
    }
    template <typename... A> void operator()(A &&...args) noexcept {
        try {
            (*f)(std::forward<A>(args)...);
        } catch (...) {
            if (!error) error = std::current_exception();
        }
    }
};

/// Hands the item at `p` to `f` as a `const T &` (copied first if the
/// memory is not aligned for T).
template <typename T, typename F> void with_item(const void *p, F &&f) {
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) == 0) {
        f(*static_cast<const T *>(p));
    } else {
        alignas(T) unsigned char copy[sizeof(T)];
        std::memcpy(copy, p, sizeof(T));
        f(*reinterpret_cast<const T *>(copy));
    }
}

/// The rmpsc_item_fn of a Callback<F> taking `const T &`.
template <typename T, typename F> void item_trampoline(void *ctx, const void *item) noexcept {
    auto *cb = static_cast<Callback<F> *>(ctx);
    with_item<T>(item, [cb](const T &v) { (*cb)(v); });
}

/// A single-pass iterator over what `Source::pull()` returns, ending when
/// it returns std::nullopt.
template <typename Source, typename V> class PullIterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = V;
    using difference_type = std::ptrdiff_t;
    using pointer = const V *;
    using reference = const V &;

    PullIterator() = default;
    explicit PullIterator(Source *s) : src_(s) { next(); }
    reference operator*() const { return *cur_; }
    pointer operator->() const { return &*cur_; }
    PullIterator &operator++() {
        next();
        return *this;
    }
    /// Input-iterator post-increment: the old value, held by value.
    struct Proxy {
        V v;
        const V &operator*() const { return v; }
    };
    Proxy operator++(int) {
        Proxy p{std::move(*cur_)};
        next();
        return p;
    }
    friend bool operator==(const PullIterator &a, const PullIterator &b) { return a.src_ == b.src_; }
    friend bool operator!=(const PullIterator &a, const PullIterator &b) { return a.src_ != b.src_; }

  private:
    void next() {
        cur_ = src_->pull();
        if (!cur_) src_ = nullptr;
    }
    Source *src_ = nullptr;
    std::optional<V> cur_;
};

} // namespace detail

// ---------------------------------------------------------------- spans

#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
/// A view of contiguous items: std::span where the library has it.
template <typename T> using Span = std::span<T>;
#else
/// A view of contiguous items: the part of C++20's std::span this API uses.
template <typename T> class Span {
  public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using size_type = std::size_t;
    using difference_type = std::ptrdiff_t;
    using pointer = T *;
    using reference = T &;
    using iterator = T *;

    constexpr Span() noexcept = default;
    constexpr Span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <typename U, typename = std::enable_if_t<std::is_convertible<U (*)[], T (*)[]>::value>>
    constexpr Span(const Span<U> &o) noexcept : data_(o.data()), size_(o.size()) {}

    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }
    constexpr T &operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T &front() const noexcept { return data_[0]; }
    constexpr T &back() const noexcept { return data_[size_ - 1]; }
    constexpr Span first(std::size_t n) const noexcept { return {data_, n}; }
    constexpr Span last(std::size_t n) const noexcept { return {data_ + size_ - n, n}; }
    constexpr Span subspan(std::size_t offset, std::size_t n) const noexcept { return {data_ + offset, n}; }
    constexpr Span subspan(std::size_t offset) const noexcept { return {data_ + offset, size_ - offset}; }

  private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};
#endif

/// Writable bytes in place (a claim, a reservation, a slab).
using ByteSpan = Span<unsigned char>;
/// Read-only bytes in place (a message, a record, a payload).
using ConstByteSpan = Span<const unsigned char>;

namespace detail {
template <typename T> Span<T> span_of(void *p, std::size_t n) noexcept {
    if (n == 0) return {};
    return Span<T>(static_cast<T *>(p), n);
}
template <typename T> Span<const T> span_of(const void *p, std::size_t n) noexcept {
    if (n == 0) return {};
    return Span<const T>(static_cast<const T *>(p), n);
}
} // namespace detail

/// Bytes of a string as a ConstByteSpan.
inline ConstByteSpan to_bytes(std::string_view s) noexcept {
    return detail::span_of<unsigned char>(static_cast<const void *>(s.data()), s.size());
}
/// A ConstByteSpan as a string_view (for text payloads).
inline std::string_view to_string_view(ConstByteSpan b) noexcept {
    return b.empty() ? std::string_view() : std::string_view(reinterpret_cast<const char *>(b.data()), b.size());
}

// ---------------------------------------------------------------- shared pieces

/// Who may open a named segment: mode bits (at most 0777; 0: 0600) and,
/// with `set_group`, the group `group` (the creator must belong to it).
struct Permissions {
    std::uint32_t mode = 0;
    bool set_group = false;
    std::uint32_t group = 0;

    rmpsc_permissions_t to_c() const noexcept {
        rmpsc_permissions_t p{};
        p.mode = mode;
        p.set_group = set_group;
        p.group = group;
        return p;
    }
};

/// Counters of a ring or channel (rmpsc_metrics_t with its helpers).
struct Metrics : rmpsc_metrics_t {
    Metrics() noexcept : rmpsc_metrics_t{} {}
    Metrics(const rmpsc_metrics_t &m) noexcept : rmpsc_metrics_t(m) {}

    /// Adds `o` in (sums; minimum and maximum combined).
    Metrics &merge(const Metrics &o) {
        detail::check(rmpsc_metrics_merge(this, &o), "rmpsc_metrics_merge");
        return *this;
    }
    Metrics &operator+=(const Metrics &o) { return merge(o); }
    double avg_latency_ns() const noexcept { return rmpsc_metrics_avg_latency_ns(this); }
    double avg_batch_size() const noexcept { return rmpsc_metrics_avg_batch_size(this); }
    /// Items received per second over `elapsed`.
    double throughput(std::chrono::duration<double> elapsed) const noexcept {
        return rmpsc_metrics_throughput(this, elapsed.count());
    }
};

/// Channel flags: counters (read with metrics()), contention counters too.
enum class ChannelFlags : std::uint32_t {
    None = 0,
    Metrics = RMPSC_CHANNEL_METRICS,
    TrackContention = RMPSC_CHANNEL_TRACK_CONTENTION,
};
inline constexpr ChannelFlags operator|(ChannelFlags a, ChannelFlags b) noexcept {
    return static_cast<ChannelFlags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}

/// An eventfd that rings and channels signal after every commit: poll or
/// epoll its fd(), then consume(). Thread-safe.
class Notifier {
  public:
    Notifier() { detail::check(rmpsc_notifier_new(h_.out()), "rmpsc_notifier_new"); }

    /// The eventfd (owned by the notifier).
    int fd() const noexcept { return rmpsc_notifier_fd(h_.get()); }
    /// Signals since the last call (0: none); resets the count.
    std::uint64_t consume() {
        std::uint64_t n = 0;
        detail::check(rmpsc_notifier_consume(h_.get(), &n), "rmpsc_notifier_consume");
        return n;
    }
    void signal() { detail::check(rmpsc_notifier_signal(h_.get()), "rmpsc_notifier_signal"); }
    /// Signals only while `*waiters` (a count of sleeping consumers, e.g. in
    /// shared memory) is non-zero: no system call while nobody waits.
    void signal_if_waiting(const std::uint32_t *waiters) {
        detail::check(rmpsc_notifier_signal_if_waiting(h_.get(), waiters), "rmpsc_notifier_signal_if_waiting");
    }
    void signal_if_waiting(const std::atomic<std::uint32_t> &waiters) {
        // The C side reads the word atomically: the same 4 bytes.
        static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                          std::atomic<std::uint32_t>::is_always_lock_free,
                      "std::atomic<uint32_t> must be a plain 32-bit word");
        signal_if_waiting(reinterpret_cast<const std::uint32_t *>(&waiters));
    }
    /// Adds the eventfd to `epoll_fd`, edge-triggered (event data: the eventfd).
    void register_epoll(int epoll_fd) {
        detail::check(rmpsc_notifier_register_epoll(h_.get(), epoll_fd), "rmpsc_notifier_register_epoll");
    }
    void unregister_epoll(int epoll_fd) {
        detail::check(rmpsc_notifier_unregister_epoll(h_.get(), epoll_fd), "rmpsc_notifier_unregister_epoll");
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_notifier_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_notifier_t, rmpsc_notifier_free> h_;
};

// ---------------------------------------------------------------- rings

template <typename T> class Ring;

namespace detail {

/// Waits on a copy of `l`, so that the library never gets the lease's own
/// address (see ProducerLease::with_local), and keeps what the wait learnt.
inline void lease_wait(rmpsc_lease_t &l, OptNs timeout) {
    rmpsc_lease_t copy = l;
    check(rmpsc_lease_wait(&copy, to_ns(timeout)), "rmpsc_lease_wait");
    l = copy;
}

/// The producer's calls on the lease `Self` holds in `l_`: shared by
/// ProducerLease<T> and the local copy its with_local() hands out.
template <typename T, typename Self> class ProducerCalls {
  public:
    /// Sends one item; false when the ring is full.
    bool try_send(const T &item) {
        int rc = rmpsc_lease_try_send(&lease(), &item);
        if (rc == RMPSC_EFULL) return false;
        check_inline(rc, "rmpsc_lease_try_send");
        return true;
    }
    /// Sends as many of `items` as fit (one publication); the count.
    std::size_t send(const T *items, std::size_t n) {
        std::size_t sent = 0;
        check_inline(rmpsc_lease_send(&lease(), items, n, &sent), "rmpsc_lease_send");
        return sent;
    }
    std::size_t send(Span<const T> items) { return send(items.data(), items.size()); }
    /// Up to `n` contiguous free slots to write in place, or an empty span
    /// when full; publish them with commit().
    Span<T> reserve(std::size_t n) {
        void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_lease_reserve(&lease(), n, &slots, &count);
        if (rc == RMPSC_EFULL) return {};
        check_inline(rc, "rmpsc_lease_reserve");
        return span_of<T>(slots, count);
    }
    /// Publishes the first `n` reserved slots.
    void commit(std::size_t n) { check_inline(rmpsc_lease_commit(&lease(), n), "rmpsc_lease_commit"); }

  private:
    rmpsc_lease_t &lease() { return static_cast<Self &>(*this).l_; }
};

/// The consumer's calls on the lease `Self` holds in `l_`: shared by
/// ConsumerLease<T> and the local copy its with_local() hands out.
/// Receives throw Closed once the ring is closed and drained.
template <typename T, typename Self> class ConsumerCalls {
  public:
    /// One item, or nullopt when empty.
    std::optional<T> try_recv() {
        T item{};
        int rc = rmpsc_lease_try_recv(&lease(), &item);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        check_inline(rc, "rmpsc_lease_try_recv");
        return item;
    }
    /// Copies up to `max` items into `out`; the count (0 when empty).
    std::size_t recv(T *out, std::size_t max) {
        std::size_t got = 0;
        check_inline(rmpsc_lease_recv(&lease(), out, max, &got), "rmpsc_lease_recv");
        return got;
    }
    std::size_t recv(Span<T> out) { return recv(out.data(), out.size()); }
    /// The readable items at the head, in place, empty when none; free
    /// them with advance().
    Span<const T> peek() {
        const void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_lease_peek(&lease(), &slots, &count);
        if (rc == RMPSC_EEMPTY) return {};
        check_inline(rc, "rmpsc_lease_peek");
        return span_of<T>(slots, count);
    }
    /// Frees `n` items read through peek().
    void advance(std::size_t n) { check_inline(rmpsc_lease_advance(&lease(), n), "rmpsc_lease_advance"); }

  private:
    rmpsc_lease_t &lease() { return static_cast<Self &>(*this).l_; }
};

/// A copy of a lease in a local variable, handed to a with_local() body
/// as `Local`, and copied back to `owner` when the body returns or throws.
template <typename Local> struct LocalCopy {
    explicit LocalCopy(rmpsc_lease_t &o) : owner(o) { local.l_ = o; }
    LocalCopy(const LocalCopy &) = delete;
    LocalCopy &operator=(const LocalCopy &) = delete;
    ~LocalCopy() { owner = local.l_; }
    rmpsc_lease_t &owner;
    Local local;
};

} // namespace detail

/// One side of a Ring<T> lent to the inline fast path of ringmpsc_lease.h:
/// items move without a call into the library. The side's Ring calls
/// throw Busy until the lease ends (end() or destruction), then go on
/// from where the lease left the side. One thread at a time; the Ring
/// must outlive the lease. ProducerLease and ConsumerLease add the side's
/// calls, with the Ring's error model.
class Lease {
  public:
    Lease(Lease &&o) noexcept : l_(o.l_) { o.forget(); }
    Lease &operator=(Lease &&o) noexcept {
        if (this != &o) {
            release();
            l_ = o.l_;
            o.forget();
        }
        return *this;
    }
    Lease(const Lease &) = delete;
    Lease &operator=(const Lease &) = delete;
    ~Lease() { release(); }
    /// Ends the lease. Throws Corrupt (the lease stays) when the position
    /// in the ring is not the one the lease published.
    void end() {
        if (l_.ring) detail::check(rmpsc_lease_end(&l_), "rmpsc_lease_end");
    }
    /// Waits up to `timeout` until the side can go on (a free slot, a
    /// readable item). Throws Timeout, Closed (a consumer: once drained).
    void wait(detail::OptNs timeout = std::nullopt) { detail::lease_wait(l_, timeout); }
    explicit operator bool() const noexcept { return l_.ring != nullptr; }
    rmpsc_lease_t *native_handle() noexcept { return &l_; }

  protected:
    Lease(rmpsc_ring_t *ring, int side) {
        detail::check(rmpsc_ring_lease(ring, side, RMPSC_LEASE_LAYOUT, &l_), "rmpsc_ring_lease");
    }
    rmpsc_lease_t l_{};

  private:
    void release() noexcept {
        if (l_.ring) (void)rmpsc_lease_end(&l_);
    }
    /// Marks a moved-from lease as ended, as rmpsc_lease_end does: its
    /// calls fail with InvalidArgument.
    void forget() noexcept {
        l_.ring = nullptr;
        l_.side = -1;
    }
};

/// A lease copied into a local variable, for the body of a lease's
/// with_local(): the side's calls (`Calls`), and wait().
template <template <typename, typename> class Calls, typename T>
class LocalLease : public Calls<T, LocalLease<Calls, T>> {
  public:
    /// As Lease::wait.
    void wait(detail::OptNs timeout = std::nullopt) { detail::lease_wait(l_, timeout); }

  private:
    friend class Calls<T, LocalLease>;
    friend struct detail::LocalCopy<LocalLease>;
    LocalLease() = default;
    rmpsc_lease_t l_;
};

/// What ProducerLease<T>::with_local hands its body.
template <typename T> using LocalProducer = LocalLease<detail::ProducerCalls, T>;
/// What ConsumerLease<T>::with_local hands its body.
template <typename T> using LocalConsumer = LocalLease<detail::ConsumerCalls, T>;

/// The producer side of a Ring<T> on the inline fast path; from
/// Ring::lease_producer().
template <typename T> class ProducerLease : public Lease, public detail::ProducerCalls<T, ProducerLease<T>> {
  public:
    /// Runs `body(LocalProducer<T> &)` on a copy of the lease in a local
    /// variable and returns what it returns. The compiler can keep that
    /// copy in registers through a loop, where this object stays in memory
    /// (its address goes to the library when it ends), and a call such as
    /// try_send() then reloads it after each publication's barrier: one
    /// item at a time, several times faster. The copy comes back to this
    /// lease when `body` returns or throws; do not use this lease in it.
    template <typename F> decltype(auto) with_local(F &&body) {
        detail::LocalCopy<LocalProducer<T>> copy(l_);
        return std::forward<F>(body)(copy.local);
    }

  private:
    friend class Ring<T>;
    friend class detail::ProducerCalls<T, ProducerLease<T>>;
    explicit ProducerLease(rmpsc_ring_t *ring) : Lease(ring, RMPSC_SIDE_PRODUCER) {}
};

/// The consumer side of a Ring<T> on the inline fast path; from
/// Ring::lease_consumer(). Receives throw Closed once closed and drained.
template <typename T> class ConsumerLease : public Lease, public detail::ConsumerCalls<T, ConsumerLease<T>> {
  public:
    /// Runs `body(LocalConsumer<T> &)` on a copy of the lease in a local
    /// variable, as ProducerLease::with_local.
    template <typename F> decltype(auto) with_local(F &&body) {
        detail::LocalCopy<LocalConsumer<T>> copy(l_);
        return std::forward<F>(body)(copy.local);
    }

  private:
    friend class Ring<T>;
    friend class detail::ConsumerCalls<T, ConsumerLease<T>>;
    explicit ConsumerLease(rmpsc_ring_t *ring) : Lease(ring, RMPSC_SIDE_CONSUMER) {}
};

/// An SPSC ring of trivially copyable `T`: in-process (both sides), or one
/// side of a SharedRing or the producer of a channel. One thread per side;
/// a second thread on a busy side gets Busy. Range-for receives item by
/// item, waiting without limit, until the ring is closed and drained.
template <typename T> class Ring {
    static_assert(std::is_trivially_copyable<T>::value,
                  "ring slots are copied as bytes: T must be trivially copyable");

  public:
    /// A ring of `capacity` slots (a power of two).
    explicit Ring(std::size_t capacity) {
        detail::check(rmpsc_ring_new(capacity, sizeof(T), ring_.out()), "rmpsc_ring_new");
    }
    /// Takes ownership of a ring handle, e.g. a side of a shared ring.
    static Ring adopt(rmpsc_ring_t *handle) noexcept { return Ring(Adopt{}, handle); }

    // ---- producer side ----

    /// Sends one item; false when the ring is full.
    bool try_send(const T &item) {
        int rc = rmpsc_ring_try_send(ring_.get(), &item);
        if (rc == RMPSC_EFULL) return false;
        detail::check(rc, "rmpsc_ring_try_send");
        return true;
    }
    /// Sends as many of `items` as fit (one commit); the count (0 when full).
    std::size_t send(const T *items, std::size_t n) {
        std::size_t sent = 0;
        detail::check(rmpsc_ring_send(ring_.get(), items, n, &sent), "rmpsc_ring_send");
        return sent;
    }
    std::size_t send(Span<const T> items) { return send(items.data(), items.size()); }
    /// Sends one item, waiting up to `timeout` for room. Throws Timeout.
    void send_blocking(const T &item, detail::OptNs timeout = std::nullopt) {
        std::size_t sent = 0;
        detail::check(rmpsc_ring_send_blocking(ring_.get(), &item, 1, detail::to_ns(timeout), &sent),
                      "rmpsc_ring_send_blocking");
    }
    /// Sends all `n` items in order, waiting for room as often as needed,
    /// all within `timeout`. Returns how many were sent: `n`, or fewer when
    /// the time ran out (the rest was not sent).
    std::size_t send_all(const T *items, std::size_t n, detail::OptNs timeout = std::nullopt) {
        const detail::Deadline deadline(timeout);
        std::size_t done = 0;
        while (done < n) {
            std::size_t sent = 0;
            int rc = rmpsc_ring_send_blocking(ring_.get(), items + done, n - done, deadline.left_ns(), &sent);
            if (rc == RMPSC_ETIMEDOUT) break;
            detail::check(rc, "rmpsc_ring_send_blocking");
            done += sent;
        }
        return done;
    }
    std::size_t send_all(Span<const T> items, detail::OptNs timeout = std::nullopt) {
        return send_all(items.data(), items.size(), timeout);
    }
    /// Up to `n` contiguous free slots to write in place, or an empty span
    /// when full; publish them with commit().
    Span<T> reserve(std::size_t n) {
        void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_ring_reserve(ring_.get(), n, &slots, &count);
        if (rc == RMPSC_EFULL) return {};
        detail::check(rc, "rmpsc_ring_reserve");
        return detail::span_of<T>(slots, count);
    }
    /// Publishes the first `n` reserved slots.
    void commit(std::size_t n) { detail::check(rmpsc_ring_commit(ring_.get(), n), "rmpsc_ring_commit"); }
    /// Signals `n` after every commit.
    void set_notifier(const Notifier &n) {
        detail::check(rmpsc_ring_set_notifier(ring_.get(), n.native_handle()), "rmpsc_ring_set_notifier");
    }
    void clear_notifier() {
        detail::check(rmpsc_ring_set_notifier(ring_.get(), nullptr), "rmpsc_ring_set_notifier");
    }

    // ---- consumer side ----

    /// One item, or nullopt when empty. Throws Closed once closed and drained.
    std::optional<T> try_recv() {
        T item{};
        int rc = rmpsc_ring_try_recv(ring_.get(), &item);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_ring_try_recv");
        return item;
    }
    /// Copies up to `max` items into `out`; the count (0 when empty).
    /// Throws Closed once closed and drained.
    std::size_t recv(T *out, std::size_t max) {
        std::size_t got = 0;
        detail::check(rmpsc_ring_recv(ring_.get(), out, max, &got), "rmpsc_ring_recv");
        return got;
    }
    std::size_t recv(Span<T> out) { return recv(out.data(), out.size()); }
    /// One item, waiting up to `timeout`. Throws Timeout, Closed.
    T recv_blocking(detail::OptNs timeout = std::nullopt) {
        T item{};
        recv_blocking(&item, 1, timeout);
        return item;
    }
    /// Waits up to `timeout` for at least one item, then copies up to `max`
    /// (>= 1); the count. Throws Timeout, Closed (closed and drained).
    std::size_t recv_blocking(T *out, std::size_t max, detail::OptNs timeout = std::nullopt) {
        std::size_t got = 0;
        detail::check(rmpsc_ring_recv_blocking(ring_.get(), out, max, detail::to_ns(timeout), &got),
                      "rmpsc_ring_recv_blocking");
        return got;
    }
    std::size_t recv_blocking(Span<T> out, detail::OptNs timeout = std::nullopt) {
        return recv_blocking(out.data(), out.size(), timeout);
    }
    /// The readable items at the head, in place (contiguous: the rest after
    /// the end of the slot array follows later), empty when none; free them
    /// with advance(). Throws Closed once closed and drained.
    Span<const T> peek() {
        const void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_ring_peek(ring_.get(), &slots, &count);
        if (rc == RMPSC_EEMPTY) return {};
        detail::check(rc, "rmpsc_ring_peek");
        return detail::span_of<T>(slots, count);
    }
    /// Frees `n` items read through peek().
    void advance(std::size_t n) { detail::check(rmpsc_ring_advance(ring_.get(), n), "rmpsc_ring_advance"); }

    using iterator = detail::PullIterator<Ring, T>;
    /// Receives the first item (waits); the loop ends once closed and drained.
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    // ---- either side, on the inline fast path ----

    /// The producer side lent to the inline fast path until the lease ends.
    /// Throws InvalidArgument for a ring with metrics or a notifier of its
    /// own (the fast path would skip them; a channel's producer is lent,
    /// and its publications look at the channel's wake-up), Busy while the
    /// side is in use or lent.
    ProducerLease<T> lease_producer() { return ProducerLease<T>(ring_.get()); }
    /// The consumer side lent to the inline fast path until the lease ends.
    ConsumerLease<T> lease_consumer() { return ConsumerLease<T>(ring_.get()); }

    // ---- both sides ----

    /// Back to the initial state: drops what is left, reopens (both sides
    /// of an in-process ring; throws Busy while either is in use).
    void reset() { detail::check(rmpsc_ring_reset(ring_.get()), "rmpsc_ring_reset"); }

    // ---- any thread ----

    std::size_t size() const noexcept { return rmpsc_ring_len(ring_.get()); }
    std::size_t capacity() const noexcept { return rmpsc_ring_capacity(ring_.get()); }
    std::size_t available_capacity() const noexcept { return rmpsc_ring_available_capacity(ring_.get()); }
    /// Sends fail with Closed from now on; receives drain what is left.
    void close() { detail::check(rmpsc_ring_close(ring_.get()), "rmpsc_ring_close"); }
    bool is_closed() const noexcept { return rmpsc_ring_is_closed(ring_.get()); }
    explicit operator bool() const noexcept { return ring_.get() != nullptr; }
    rmpsc_ring_t *native_handle() const noexcept { return ring_.get(); }

  private:
    template <typename, typename> friend class detail::PullIterator;
    std::optional<T> pull() {
        T item{};
        std::size_t got = 0;
        int rc = rmpsc_ring_recv_blocking(ring_.get(), &item, 1, -1, &got);
        if (rc == RMPSC_ECLOSED) return std::nullopt;
        detail::check(rc, "rmpsc_ring_recv_blocking");
        return item;
    }
    struct Adopt {};
    Ring(Adopt, rmpsc_ring_t *handle) noexcept : ring_(handle) {}
    detail::Handle<rmpsc_ring_t, rmpsc_ring_free> ring_;
};

/// A ring of fixed-size slots of trivially copyable `T` in shared memory,
/// for two processes in any language. Take one side per process with
/// producer() or consumer(); each is a Ring<T>.
template <typename T> class SharedRing {
    static_assert(std::is_trivially_copyable<T>::value,
                  "shared slots are copied as bytes: T must be trivially copyable");

  public:
    /// Creates a named ring of `capacity` slots (a bare name lives under
    /// /dev/shm; exclusive), or with an empty name an anonymous memfd to
    /// pass with fd().
    static SharedRing create(const std::string &name, std::size_t capacity,
                             const Permissions &perm = Permissions()) {
        SharedRing r;
        const rmpsc_permissions_t p = perm.to_c();
        detail::check(rmpsc_shared_ring_create_with(name.empty() ? nullptr : name.c_str(), capacity, sizeof(T),
                                                    &p, r.h_.out()),
                      "rmpsc_shared_ring_create_with");
        return r;
    }
    /// Opens a named ring of `T` slots, waiting up to `timeout` for its name
    /// to appear. Throws HeaderMismatch for another slot size or kind.
    static SharedRing attach(const std::string &name, detail::OptNs timeout = std::nullopt) {
        SharedRing r;
        detail::check(rmpsc_shared_ring_attach(name.c_str(), sizeof(T), detail::to_ns(timeout), r.h_.out()),
                      "rmpsc_shared_ring_attach");
        return r;
    }
    /// Maps a ring from a received descriptor (duplicated; the caller keeps `fd`).
    static SharedRing attach_fd(int fd) {
        SharedRing r;
        detail::check(rmpsc_shared_ring_attach_fd(fd, sizeof(T), r.h_.out()), "rmpsc_shared_ring_attach_fd");
        return r;
    }

    /// The producer side for this process (destroying it closes the ring).
    /// Throws Busy while a live process holds it.
    Ring<T> producer() {
        return Ring<T>::adopt(side(rmpsc_shared_ring_take_producer, "rmpsc_shared_ring_take_producer"));
    }
    /// The consumer side for this process.
    Ring<T> consumer() {
        return Ring<T>::adopt(side(rmpsc_shared_ring_take_consumer, "rmpsc_shared_ring_take_consumer"));
    }

    std::size_t capacity() const noexcept { return rmpsc_shared_ring_capacity(h_.get()); }
    std::size_t slot_size() const noexcept { return rmpsc_shared_ring_slot_size(h_.get()); }
    std::size_t size() const noexcept { return rmpsc_shared_ring_len(h_.get()); }
    int fd() const noexcept { return rmpsc_shared_ring_fd(h_.get()); }
    /// Closes the ring for every process and wakes every sleeper.
    void close() { detail::check(rmpsc_shared_ring_close(h_.get()), "rmpsc_shared_ring_close"); }
    bool is_closed() const noexcept { return rmpsc_shared_ring_is_closed(h_.get()); }
    /// Whether a producer process holds the ring and stamped its heartbeat
    /// within `window` (nullopt: any age).
    bool is_producer_alive(detail::OptNs window = std::nullopt) const noexcept {
        return rmpsc_shared_ring_is_producer_alive(h_.get(), detail::to_ns(window));
    }
    bool is_consumer_alive(detail::OptNs window = std::nullopt) const noexcept {
        return rmpsc_shared_ring_is_consumer_alive(h_.get(), detail::to_ns(window));
    }
    /// Removes the name now (mappings stay valid).
    void unlink() { detail::check(rmpsc_shared_ring_unlink(h_.get()), "rmpsc_shared_ring_unlink"); }
    /// Removes the name once this object and the sides taken from it are
    /// gone (if the name still leads to this segment).
    void unlink_on_drop(bool unlink = true) {
        detail::check(rmpsc_shared_ring_unlink_on_drop(h_.get(), unlink), "rmpsc_shared_ring_unlink_on_drop");
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_shared_ring_t *native_handle() const noexcept { return h_.get(); }

  private:
    SharedRing() = default;
    rmpsc_ring_t *side(int (*take)(rmpsc_shared_ring_t *, rmpsc_ring_t **), const char *call) {
        rmpsc_ring_t *r = nullptr;
        detail::check(take(h_.get(), &r), call);
        return r;
    }
    detail::Handle<rmpsc_shared_ring_t, rmpsc_shared_ring_free> h_;
};

namespace shm {
/// Removes the named segment (of any kind) if its creator is dead and no
/// live process holds a side; whether it was removed.
inline bool remove_if_stale(const std::string &name) {
    bool removed = false;
    detail::check(rmpsc_shm_remove_if_stale(name.c_str(), &removed), "rmpsc_shm_remove_if_stale");
    return removed;
}
} // namespace shm

// ---------------------------------------------------------------- byte messages

/// A received message, in place in shared memory: valid until the
/// receiver's release() or next receive.
struct Message {
    std::uint32_t type;
    const unsigned char *data;
    std::size_t size;

    ConstByteSpan bytes() const noexcept { return detail::span_of<unsigned char>(static_cast<const void *>(data), size); }
    std::string_view view() const noexcept { return to_string_view(bytes()); }
};

/// The sending side of a MessageRing (destroying it closes the ring). One
/// thread at a time.
class MessageSender {
  public:
    explicit MessageSender(rmpsc_msg_sender_t *adopted) noexcept : h_(adopted) {}

    /// Room for a `len`-byte message to write in place, or nullptr when the
    /// ring is full; publish with commit() or drop with abort().
    unsigned char *claim(std::size_t len) {
        void *buf = nullptr;
        int rc = rmpsc_msg_sender_claim(h_.get(), len, &buf);
        if (rc == RMPSC_EFULL) return nullptr;
        detail::check(rc, "rmpsc_msg_sender_claim");
        return static_cast<unsigned char *>(buf);
    }
    /// Publishes the first `len` claimed bytes with type `type` (not 0xffffffff).
    void commit(std::uint32_t type, std::size_t len) {
        detail::check(rmpsc_msg_sender_commit(h_.get(), type, len), "rmpsc_msg_sender_commit");
    }
    /// Drops the claimed message.
    void abort() { detail::check(rmpsc_msg_sender_abort(h_.get()), "rmpsc_msg_sender_abort"); }
    /// Sends a copy of `len` bytes; false when the ring is full.
    bool try_send(std::uint32_t type, const void *data, std::size_t len) {
        int rc = rmpsc_msg_sender_send(h_.get(), type, data, len);
        if (rc == RMPSC_EFULL) return false;
        detail::check(rc, "rmpsc_msg_sender_send");
        return true;
    }
    bool try_send(std::uint32_t type, std::string_view data) { return try_send(type, data.data(), data.size()); }
    /// Sends a copy, waiting up to `timeout` for room. Throws Timeout.
    void send_blocking(std::uint32_t type, const void *data, std::size_t len, detail::OptNs timeout = std::nullopt) {
        detail::check(rmpsc_msg_sender_send_blocking(h_.get(), type, data, len, detail::to_ns(timeout)),
                      "rmpsc_msg_sender_send_blocking");
    }
    void send_blocking(std::uint32_t type, std::string_view data, detail::OptNs timeout = std::nullopt) {
        send_blocking(type, data.data(), data.size(), timeout);
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_msg_sender_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_msg_sender_t, rmpsc_msg_sender_free> h_;
};

/// The receiving side of a MessageRing (destroying it closes the ring). One
/// thread at a time. A receive releases the previous message if release()
/// did not; range-for receives message by message, waiting without limit,
/// until the ring is closed and drained.
class MessageReceiver {
  public:
    explicit MessageReceiver(rmpsc_msg_receiver_t *adopted) noexcept : h_(adopted) {}
    MessageReceiver(MessageReceiver &&o) noexcept : h_(std::move(o.h_)), held_(std::exchange(o.held_, false)) {}
    MessageReceiver &operator=(MessageReceiver &&o) noexcept {
        h_ = std::move(o.h_);
        held_ = std::exchange(o.held_, false);
        return *this;
    }

    /// The next message in place, or nullopt when none waits. Throws Closed
    /// once closed and drained, Corrupt on a bad record.
    std::optional<Message> try_recv() {
        release_held();
        Message m{};
        const void *data = nullptr;
        int rc = rmpsc_msg_receiver_recv(h_.get(), &m.type, &data, &m.size);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_msg_receiver_recv");
        return held(m, data);
    }
    /// The next message, waiting up to `timeout`. Throws Timeout, Closed
    /// (closed and drained), Corrupt.
    Message recv_blocking(detail::OptNs timeout = std::nullopt) {
        release_held();
        Message m{};
        const void *data = nullptr;
        detail::check(rmpsc_msg_receiver_recv_blocking(h_.get(), detail::to_ns(timeout), &m.type, &data, &m.size),
                      "rmpsc_msg_receiver_recv_blocking");
        return held(m, data);
    }
    /// Frees the last message received.
    void release() {
        detail::check(rmpsc_msg_receiver_release(h_.get()), "rmpsc_msg_receiver_release");
        held_ = false;
    }

    using iterator = detail::PullIterator<MessageReceiver, Message>;
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_msg_receiver_t *native_handle() const noexcept { return h_.get(); }

  private:
    template <typename, typename> friend class detail::PullIterator;
    std::optional<Message> pull() {
        release_held();
        Message m{};
        const void *data = nullptr;
        int rc = rmpsc_msg_receiver_recv_blocking(h_.get(), -1, &m.type, &data, &m.size);
        if (rc == RMPSC_ECLOSED) return std::nullopt;
        detail::check(rc, "rmpsc_msg_receiver_recv_blocking");
        return held(m, data);
    }
    void release_held() {
        if (held_) release();
    }
    Message held(Message m, const void *data) {
        m.data = static_cast<const unsigned char *>(data);
        held_ = true;
        return m;
    }
    detail::Handle<rmpsc_msg_receiver_t, rmpsc_msg_receiver_free> h_;
    bool held_ = false;
};

/// Variable-size byte messages in shared memory, for two processes in any
/// language: one MessageSender and one MessageReceiver.
class MessageRing {
  public:
    /// Creates a named ring of `capacity` bytes (a power of two, 4 KiB to
    /// 256 MiB), or with an empty name an anonymous memfd to pass with fd().
    static MessageRing create(const std::string &name, std::size_t capacity,
                              const Permissions &perm = Permissions()) {
        MessageRing r;
        const rmpsc_permissions_t p = perm.to_c();
        detail::check(rmpsc_msg_ring_create_with(name.empty() ? nullptr : name.c_str(), capacity, &p, r.h_.out()),
                      "rmpsc_msg_ring_create_with");
        return r;
    }
    /// Opens a named ring, waiting up to `timeout` for its name to appear.
    static MessageRing attach(const std::string &name, detail::OptNs timeout = std::nullopt) {
        MessageRing r;
        detail::check(rmpsc_msg_ring_attach(name.c_str(), detail::to_ns(timeout), r.h_.out()),
                      "rmpsc_msg_ring_attach");
        return r;
    }
    /// Maps a ring from a received descriptor (duplicated; the caller keeps `fd`).
    static MessageRing attach_fd(int fd) {
        MessageRing r;
        detail::check(rmpsc_msg_ring_attach_fd(fd, r.h_.out()), "rmpsc_msg_ring_attach_fd");
        return r;
    }

    /// The sending side for this process. Throws Busy while a live process holds it.
    MessageSender sender() {
        rmpsc_msg_sender_t *s = nullptr;
        detail::check(rmpsc_msg_sender_new(h_.get(), &s), "rmpsc_msg_sender_new");
        return MessageSender(s);
    }
    /// The receiving side for this process.
    MessageReceiver receiver() {
        rmpsc_msg_receiver_t *r = nullptr;
        detail::check(rmpsc_msg_receiver_new(h_.get(), &r), "rmpsc_msg_receiver_new");
        return MessageReceiver(r);
    }

    /// Largest payload in bytes (capacity - 16).
    std::size_t max_message() const noexcept { return rmpsc_msg_ring_max_message(h_.get()); }
    int fd() const noexcept { return rmpsc_msg_ring_fd(h_.get()); }
    void close() { detail::check(rmpsc_msg_ring_close(h_.get()), "rmpsc_msg_ring_close"); }
    bool is_closed() const noexcept { return rmpsc_msg_ring_is_closed(h_.get()); }
    /// Whether a sending process holds the ring and stamped its heartbeat
    /// within `window` (nullopt: any age).
    bool is_sender_alive(detail::OptNs window = std::nullopt) const noexcept {
        return rmpsc_msg_ring_is_sender_alive(h_.get(), detail::to_ns(window));
    }
    bool is_receiver_alive(detail::OptNs window = std::nullopt) const noexcept {
        return rmpsc_msg_ring_is_receiver_alive(h_.get(), detail::to_ns(window));
    }
    void unlink() { detail::check(rmpsc_msg_ring_unlink(h_.get()), "rmpsc_msg_ring_unlink"); }
    void unlink_on_drop(bool unlink = true) {
        detail::check(rmpsc_msg_ring_unlink_on_drop(h_.get(), unlink), "rmpsc_msg_ring_unlink_on_drop");
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_msg_ring_t *native_handle() const noexcept { return h_.get(); }

  private:
    MessageRing() = default;
    detail::Handle<rmpsc_msg_ring_t, rmpsc_msg_ring_free> h_;
};

// ---------------------------------------------------------------- buffer pool

/// A pool of fixed-size slabs, on the heap or in shared memory. alloc and
/// release are lock-free and thread-safe (process-safe for a shared pool);
/// a slab, named by its 4-byte handle, belongs to whoever holds the handle
/// (send it through a ring to hand the slab over).
class BufferPool {
  public:
    /// A pool of `num_slabs` slabs of `slab_size` bytes on this process's heap.
    BufferPool(std::size_t slab_size, std::size_t num_slabs) {
        detail::check(rmpsc_pool_new(slab_size, num_slabs, h_.out()), "rmpsc_pool_new");
    }
    /// A pool in shared memory, named (a bare name lives under /dev/shm) or,
    /// with an empty name, an anonymous memfd to pass with fd().
    static BufferPool create(const std::string &name, std::size_t slab_size, std::size_t num_slabs,
                             const Permissions &perm = Permissions()) {
        BufferPool p;
        const rmpsc_permissions_t c = perm.to_c();
        detail::check(rmpsc_pool_create_with(name.empty() ? nullptr : name.c_str(), slab_size, num_slabs, &c,
                                             p.h_.out()),
                      "rmpsc_pool_create_with");
        return p;
    }
    /// Opens a named shared pool, waiting up to `timeout` for its name.
    static BufferPool attach(const std::string &name, detail::OptNs timeout = std::nullopt) {
        BufferPool p;
        detail::check(rmpsc_pool_attach(name.c_str(), detail::to_ns(timeout), p.h_.out()), "rmpsc_pool_attach");
        return p;
    }
    /// Maps a shared pool from a descriptor (duplicated; the caller keeps `fd`).
    static BufferPool attach_fd(int fd) {
        BufferPool p;
        detail::check(rmpsc_pool_attach_fd(fd, p.h_.out()), "rmpsc_pool_attach_fd");
        return p;
    }

    /// A free slab's handle, or nullopt when every slab is in use.
    std::optional<std::uint32_t> alloc() {
        std::uint32_t slab = 0;
        int rc = rmpsc_pool_alloc(h_.get(), &slab);
        if (rc == RMPSC_EFULL) return std::nullopt;
        detail::check(rc, "rmpsc_pool_alloc");
        return slab;
    }
    /// Gives a slab back. Throws InvalidArgument for a handle not allocated
    /// (freed twice, stale, foreign).
    void release(std::uint32_t slab) { detail::check(rmpsc_pool_release(h_.get(), slab), "rmpsc_pool_release"); }
    /// The whole slab, writable in place (its holder only).
    ByteSpan writable(std::uint32_t slab) const {
        void *data = nullptr;
        std::size_t cap = 0;
        detail::check(rmpsc_pool_get_writable(h_.get(), slab, &data, &cap), "rmpsc_pool_get_writable");
        return detail::span_of<unsigned char>(data, cap);
    }
    /// Sets the payload length of a slab (at most the slab size: else TooLarge).
    void set_len(std::uint32_t slab, std::size_t len) {
        detail::check(rmpsc_pool_set_len(h_.get(), slab, len), "rmpsc_pool_set_len");
    }
    /// The payload of a slab in place (its length set by set_len).
    ConstByteSpan get(std::uint32_t slab) const {
        const void *data = nullptr;
        std::size_t len = 0;
        detail::check(rmpsc_pool_get(h_.get(), slab, &data, &len), "rmpsc_pool_get");
        return detail::span_of<unsigned char>(data, len);
    }

    /// Free slabs (a diagnostic walk of the free list).
    std::size_t available() const noexcept { return rmpsc_pool_available(h_.get()); }
    std::size_t capacity() const noexcept { return rmpsc_pool_capacity(h_.get()); }
    std::size_t slab_size() const noexcept { return rmpsc_pool_slab_size(h_.get()); }
    /// The segment's descriptor (-1 for a heap pool).
    int fd() const noexcept { return rmpsc_pool_fd(h_.get()); }
    /// Removes a shared pool's name (InvalidArgument for a heap pool).
    void unlink() { detail::check(rmpsc_pool_unlink(h_.get()), "rmpsc_pool_unlink"); }
    void unlink_on_drop(bool unlink = true) {
        detail::check(rmpsc_pool_unlink_on_drop(h_.get(), unlink), "rmpsc_pool_unlink_on_drop");
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_pool_t *native_handle() const noexcept { return h_.get(); }

  private:
    BufferPool() = default;
    detail::Handle<rmpsc_pool_t, rmpsc_pool_free> h_;
};

// ---------------------------------------------------------------- channels

/// How an EventLoop waits while every ring is empty.
enum class Wait : int {
    Blocking = RMPSC_WAIT_BLOCKING, ///< spin briefly, yield, then sleep until an item comes
    Spin = RMPSC_WAIT_SPIN,         ///< never sleep: the lowest latency, a core at 100%
    Yield = RMPSC_WAIT_YIELD,       ///< spin briefly, then sched_yield on every retry
    Paced = RMPSC_WAIT_PACED        ///< spin a pause before each retry (batches build up), then Blocking
};

/// A consumer thread running an MpscChannel: calls the callable on every
/// item, sleeping when idle. Destroying it stops it (as stop() does, but an
/// exception of the callable is then dropped).
class EventLoop {
  public:
    EventLoop(EventLoop &&o) noexcept = default;
    EventLoop &operator=(EventLoop &&o) noexcept {
        if (this != &o) {
            h_ = std::move(o.h_); // stops the old loop before its callable goes
            state_ = std::move(o.state_);
        }
        return *this;
    }

    /// Items handled so far.
    std::uint64_t processed() const noexcept { return rmpsc_event_loop_processed(h_.get()); }
    /// Closes the channel, lets the thread handle everything left and joins
    /// it; the total handled. Rethrows the callable's first exception.
    std::uint64_t stop() {
        std::uint64_t total = 0;
        detail::check(rmpsc_event_loop_stop(h_.get(), &total), "rmpsc_event_loop_stop");
        if (state_ && state_->error) std::rethrow_exception(std::exchange(state_->error, nullptr));
        return total;
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_event_loop_t *native_handle() const noexcept { return h_.get(); }

  private:
    template <typename> friend class MpscChannel;
    struct State {
        virtual ~State() = default;
        std::exception_ptr error; // written by the loop's thread, read after the join
    };
    template <typename T, typename F> struct Typed : State {
        explicit Typed(F fn) : f(std::move(fn)) {}
        F f;
        static void call(void *ctx, const void *item) noexcept {
            auto *s = static_cast<Typed *>(ctx);
            detail::with_item<T>(item, [s](const T &v) {
                try {
                    s->f(v);
                } catch (...) {
                    if (!s->error) s->error = std::current_exception();
                }
            });
        }
    };
    EventLoop() = default;
    // Declared first, destroyed last: the thread is joined before the callable goes.
    std::unique_ptr<State> state_;
    detail::Handle<rmpsc_event_loop_t, rmpsc_event_loop_free> h_;
};

/// A snapshot of an MpscChannel (rings, items waiting, closed, counters).
using MpscSnapshot = rmpsc_mpsc_snapshot_t;

/// A multi-producer single-consumer channel of trivially copyable `T`: each
/// producer is a Ring<T> (producer side) of its own; one consumer thread
/// takes from all of them, or an EventLoop does.
template <typename T> class MpscChannel {
    static_assert(std::is_trivially_copyable<T>::value, "items are copied as bytes: T must be trivially copyable");

  public:
    /// Each producer gets a ring of `capacity` slots (a power of two).
    explicit MpscChannel(std::size_t capacity, ChannelFlags flags = ChannelFlags::None) {
        detail::check(rmpsc_mpsc_new(capacity, sizeof(T), static_cast<std::uint32_t>(flags), h_.out()),
                      "rmpsc_mpsc_new");
    }

    /// Registers a producer (thread-safe); destroying it deregisters, and
    /// what it sent is still delivered. Throws Closed.
    Ring<T> new_producer() {
        rmpsc_ring_t *r = nullptr;
        detail::check(rmpsc_mpsc_new_producer(h_.get(), &r), "rmpsc_mpsc_new_producer");
        return Ring<T>::adopt(r);
    }

    // ---- consumer side (one thread at a time) ----

    /// Calls `f(const T &)` on up to `max` items from all producers; the
    /// count (0 when empty). Throws Closed once closed and drained.
    template <typename F> std::size_t consume(F &&f, std::size_t max = std::numeric_limits<std::size_t>::max()) {
        using Fn = std::remove_reference_t<F>;
        detail::Callback<Fn> cb{&f, nullptr};
        std::size_t n = 0;
        int rc = rmpsc_mpsc_consume(h_.get(), &detail::item_trampoline<T, Fn>, &cb, max, &n);
        cb.rethrow();
        detail::check(rc, "rmpsc_mpsc_consume");
        if (n == 0 && rmpsc_mpsc_is_drained(h_.get())) detail::raise_closed("rmpsc_mpsc_consume");
        return n;
    }
    /// consume() of everything readable, waiting up to `timeout` while every
    /// ring is empty; the count (>= 1). Throws Timeout, Closed.
    template <typename F> std::size_t consume_blocking(F &&f, detail::OptNs timeout = std::nullopt) {
        using Fn = std::remove_reference_t<F>;
        detail::Callback<Fn> cb{&f, nullptr};
        std::size_t n = 0;
        int rc = rmpsc_mpsc_consume_blocking(h_.get(), &detail::item_trampoline<T, Fn>, &cb,
                                             detail::to_ns(timeout), &n);
        cb.rethrow();
        detail::check(rc, "rmpsc_mpsc_consume_blocking");
        return n;
    }
    /// Calls `f` on everything readable in every ring, whatever the
    /// adaptive skip says; the count. Throws Closed once closed and drained.
    template <typename F> std::size_t drain(F &&f) {
        using Fn = std::remove_reference_t<F>;
        detail::Callback<Fn> cb{&f, nullptr};
        std::size_t n = 0;
        int rc = rmpsc_mpsc_drain(h_.get(), &detail::item_trampoline<T, Fn>, &cb, &n);
        cb.rethrow();
        detail::check(rc, "rmpsc_mpsc_drain");
        if (n == 0 && rmpsc_mpsc_is_drained(h_.get())) detail::raise_closed("rmpsc_mpsc_drain");
        return n;
    }
    /// One item, or nullopt when every ring is empty. Throws Closed once
    /// closed and drained.
    std::optional<T> try_recv() {
        T item{};
        int rc = rmpsc_mpsc_try_recv(h_.get(), &item);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_mpsc_try_recv");
        return item;
    }
    /// Copies up to `max` items, taking from the producers in turn; the
    /// count (0 when empty). Throws Closed once closed and drained.
    std::size_t recv(T *out, std::size_t max) {
        std::size_t n = 0;
        detail::check(rmpsc_mpsc_recv(h_.get(), out, max, &n), "rmpsc_mpsc_recv");
        return n;
    }
    std::size_t recv(Span<T> out) { return recv(out.data(), out.size()); }
    /// Closes the channel: registrations and sends fail with Closed, what
    /// was sent is still delivered.
    void close() { detail::check(rmpsc_mpsc_close(h_.get()), "rmpsc_mpsc_close"); }
    /// Items waiting over all producers (0 while another thread has the consumer side).
    std::size_t size() const noexcept { return rmpsc_mpsc_len(h_.get()); }
    /// Closed and every ring empty.
    bool is_drained() const noexcept { return rmpsc_mpsc_is_drained(h_.get()); }
    MpscSnapshot snapshot() const {
        MpscSnapshot s{};
        detail::check(rmpsc_mpsc_snapshot(h_.get(), &s), "rmpsc_mpsc_snapshot");
        return s;
    }
    /// Every ring's counters (InvalidArgument without ChannelFlags::Metrics).
    Metrics metrics() const {
        Metrics m;
        detail::check(rmpsc_mpsc_metrics(h_.get(), &m), "rmpsc_mpsc_metrics");
        return m;
    }
    /// The ring with the most items waiting, nullopt while none is registered.
    std::optional<std::size_t> hottest_ring() const {
        std::size_t ring = 0;
        int rc = rmpsc_mpsc_hottest_ring(h_.get(), &ring);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_mpsc_hottest_ring");
        return ring;
    }
    /// Items waiting in ring `ring` (numbered by registration).
    std::size_t ring_len(std::size_t ring) const {
        std::size_t n = 0;
        detail::check(rmpsc_mpsc_ring_len(h_.get(), ring, &n), "rmpsc_mpsc_ring_len");
        return n;
    }
    /// Polls every ring at the next pass again.
    void reset_adaptive_skip() {
        detail::check(rmpsc_mpsc_reset_adaptive_skip(h_.get()), "rmpsc_mpsc_reset_adaptive_skip");
    }
    /// Signals `n` after every commit of any producer.
    void set_notifier(const Notifier &n) {
        detail::check(rmpsc_mpsc_set_notifier(h_.get(), n.native_handle()), "rmpsc_mpsc_set_notifier");
    }
    void clear_notifier() { detail::check(rmpsc_mpsc_set_notifier(h_.get(), nullptr), "rmpsc_mpsc_set_notifier"); }

    /// Starts a thread calling `f(const T &)` on every item, waiting by
    /// `wait` while idle (`pause`, 1 ns to 1 ms, only for Wait::Paced); the
    /// consumer calls above throw Busy from then on. Throws Busy when the
    /// consumer side is in use or another loop runs it, InvalidArgument for
    /// a pause out of range.
    template <typename F>
    EventLoop run(F f, Wait wait = Wait::Blocking, std::chrono::nanoseconds pause = {}) {
        using S = EventLoop::Typed<T, F>;
        EventLoop loop;
        auto state = std::make_unique<S>(std::move(f));
        detail::check(rmpsc_event_loop_new_with(h_.get(), &S::call, state.get(), static_cast<int>(wait),
                                                pause.count(), loop.h_.out()),
                      "rmpsc_event_loop_new_with");
        loop.state_ = std::move(state);
        return loop;
    }

    // ---- any thread ----

    /// Closed by close() or an event loop's stop().
    bool is_closed() const noexcept { return rmpsc_mpsc_is_closed(h_.get()); }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_mpsc_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_mpsc_t, rmpsc_mpsc_free> h_;
};

/// One consumer of an SpmcChannel or MpmcChannel: claims items no other
/// consumer gets. One thread at a time. Range-for receives item by item,
/// waiting without limit, until the channel is closed and drained.
template <typename T> class Consumer {
  public:
    explicit Consumer(rmpsc_consumer_t *adopted) noexcept : h_(adopted) {}

    /// Claims up to `max` items into `out`; the count (0: nothing
    /// unclaimed). Throws Closed once closed and drained.
    std::size_t recv(T *out, std::size_t max) {
        std::size_t n = 0;
        detail::check(rmpsc_consumer_recv(h_.get(), out, max, &n), "rmpsc_consumer_recv");
        if (n == 0 && max > 0) n = recv_or_closed(out, max);
        return n;
    }
    std::size_t recv(Span<T> out) { return recv(out.data(), out.size()); }
    /// One item, or nullopt when nothing is unclaimed. Throws Closed once
    /// closed and drained.
    std::optional<T> try_recv() {
        T item{};
        if (recv(&item, 1) == 0) return std::nullopt;
        return item;
    }
    /// Waits up to `timeout` while nothing is unclaimed, then claims up to
    /// `max` (>= 1); the count. Throws Timeout, Closed.
    std::size_t recv_blocking(T *out, std::size_t max, detail::OptNs timeout = std::nullopt) {
        std::size_t n = 0;
        detail::check(rmpsc_consumer_recv_blocking(h_.get(), out, max, detail::to_ns(timeout), &n),
                      "rmpsc_consumer_recv_blocking");
        return n;
    }
    std::size_t recv_blocking(Span<T> out, detail::OptNs timeout = std::nullopt) {
        return recv_blocking(out.data(), out.size(), timeout);
    }
    T recv_blocking(detail::OptNs timeout = std::nullopt) {
        T item{};
        recv_blocking(&item, 1, timeout);
        return item;
    }
    /// Claims a batch (up to 4096 items) and calls `f(const T &)` on each in
    /// place; the count (0: nothing unclaimed). Throws Closed once closed
    /// and drained.
    template <typename F> std::size_t consume(F &&f) {
        using Fn = std::remove_reference_t<F>;
        detail::Callback<Fn> cb{&f, nullptr};
        std::size_t n = 0;
        int rc = rmpsc_consumer_consume(h_.get(), &detail::item_trampoline<T, Fn>, &cb, &n);
        cb.rethrow();
        detail::check(rc, "rmpsc_consumer_consume");
        if (n == 0) {
            T item{};
            if (recv_or_closed(&item, 1) == 1) {
                f(static_cast<const T &>(item));
                n = 1;
            }
        }
        return n;
    }

    using iterator = detail::PullIterator<Consumer, T>;
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_consumer_t *native_handle() const noexcept { return h_.get(); }

  private:
    template <typename, typename> friend class detail::PullIterator;
    std::optional<T> pull() {
        T item{};
        std::size_t n = 0;
        int rc = rmpsc_consumer_recv_blocking(h_.get(), &item, 1, -1, &n);
        if (rc == RMPSC_ECLOSED) return std::nullopt;
        detail::check(rc, "rmpsc_consumer_recv_blocking");
        return item;
    }
    // The non-blocking calls report "nothing unclaimed" alike for an open
    // and a drained channel; a wait of zero tells them apart (and takes
    // what arrived in between).
    std::size_t recv_or_closed(T *out, std::size_t max) {
        std::size_t n = 0;
        int rc = rmpsc_consumer_recv_blocking(h_.get(), out, max, 0, &n);
        if (rc == RMPSC_ETIMEDOUT) return 0;
        detail::check(rc, "rmpsc_consumer_recv");
        return n;
    }
    detail::Handle<rmpsc_consumer_t, rmpsc_consumer_free> h_;
};

/// A single-producer multi-consumer channel of trivially copyable `T`: one
/// ring, consumers claim items from it. Thread-safe.
template <typename T> class SpmcChannel {
    static_assert(std::is_trivially_copyable<T>::value, "items are copied as bytes: T must be trivially copyable");

  public:
    /// A ring of `capacity` slots (a power of two) for up to `max_consumers`.
    SpmcChannel(std::size_t capacity, std::uint32_t max_consumers, ChannelFlags flags = ChannelFlags::None) {
        detail::check(rmpsc_spmc_new(capacity, sizeof(T), max_consumers, static_cast<std::uint32_t>(flags), h_.out()),
                      "rmpsc_spmc_new");
    }
    /// The one producer (a Ring<T> producer side). Throws TooMany the second time.
    Ring<T> new_producer() {
        rmpsc_ring_t *r = nullptr;
        detail::check(rmpsc_spmc_new_producer(h_.get(), &r), "rmpsc_spmc_new_producer");
        return Ring<T>::adopt(r);
    }
    /// A new consumer. Throws TooMany, Closed.
    Consumer<T> new_consumer() {
        rmpsc_consumer_t *c = nullptr;
        detail::check(rmpsc_spmc_new_consumer(h_.get(), &c), "rmpsc_spmc_new_consumer");
        return Consumer<T>(c);
    }
    /// Consumers drain what is left, then get Closed.
    void close() { detail::check(rmpsc_spmc_close(h_.get()), "rmpsc_spmc_close"); }
    /// Both sides' counters (InvalidArgument without ChannelFlags::Metrics).
    Metrics metrics() const {
        Metrics m;
        detail::check(rmpsc_spmc_metrics(h_.get(), &m), "rmpsc_spmc_metrics");
        return m;
    }
    bool is_closed() const noexcept { return rmpsc_spmc_is_closed(h_.get()); }
    /// Items not yet claimed.
    std::size_t size() const noexcept { return rmpsc_spmc_len(h_.get()); }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_spmc_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_spmc_t, rmpsc_spmc_free> h_;
};

/// A multi-producer multi-consumer channel of trivially copyable `T`: a
/// ring per producer, consumers claim (their shard first, then steal).
/// Thread-safe.
template <typename T> class MpmcChannel {
    static_assert(std::is_trivially_copyable<T>::value, "items are copied as bytes: T must be trivially copyable");

  public:
    MpmcChannel(std::size_t capacity, std::uint32_t max_producers, std::uint32_t max_consumers,
                ChannelFlags flags = ChannelFlags::None) {
        detail::check(rmpsc_mpmc_new(capacity, sizeof(T), max_producers, max_consumers,
                                     static_cast<std::uint32_t>(flags), h_.out()),
                      "rmpsc_mpmc_new");
    }
    /// A new producer with its own ring. Throws TooMany, Closed.
    Ring<T> new_producer() {
        rmpsc_ring_t *r = nullptr;
        detail::check(rmpsc_mpmc_new_producer(h_.get(), &r), "rmpsc_mpmc_new_producer");
        return Ring<T>::adopt(r);
    }
    /// A new consumer. Throws TooMany, Closed.
    Consumer<T> new_consumer() {
        rmpsc_consumer_t *c = nullptr;
        detail::check(rmpsc_mpmc_new_consumer(h_.get(), &c), "rmpsc_mpmc_new_consumer");
        return Consumer<T>(c);
    }
    /// No more registrations; consumers drain what is left, then get Closed.
    void close() { detail::check(rmpsc_mpmc_close(h_.get()), "rmpsc_mpmc_close"); }
    /// Every ring's counters (InvalidArgument without ChannelFlags::Metrics
    /// or before the first producer).
    Metrics metrics() const {
        Metrics m;
        detail::check(rmpsc_mpmc_metrics(h_.get(), &m), "rmpsc_mpmc_metrics");
        return m;
    }
    bool is_closed() const noexcept { return rmpsc_mpmc_is_closed(h_.get()); }
    /// Items not yet claimed, over all rings.
    std::size_t size() const noexcept { return rmpsc_mpmc_len(h_.get()); }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_mpmc_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_mpmc_t, rmpsc_mpmc_free> h_;
};

// ---------------------------------------------------------------- transport

/// The three priorities of the transport: Critical is read first, Low is
/// dropped first under SendPolicy::DropLow.
enum class Priority : int {
    Critical = RMPSC_PRIORITY_CRITICAL,
    High = RMPSC_PRIORITY_HIGH,
    Low = RMPSC_PRIORITY_LOW,
};

/// What a send does when the ring is full.
enum class SendPolicy : int {
    Default = RMPSC_POLICY_DEFAULT, ///< the side's default (server: Fail; client: Block)
    Fail = RMPSC_POLICY_FAIL,       ///< not queued at once
    Block = RMPSC_POLICY_BLOCK,     ///< wait up to the policy timeout, then Timeout
    DropLow = RMPSC_POLICY_DROP_LOW ///< drop a Low message at once, Block for the others
};

/// A client as the server names it: slot and the slot's generation.
struct ClientId {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;

    ClientId() = default;
    ClientId(const rmpsc_client_id_t &c) noexcept : slot(c.slot), generation(c.generation) {}
    rmpsc_client_id_t to_c() const noexcept { return rmpsc_client_id_t{slot, generation}; }
    friend bool operator==(const ClientId &a, const ClientId &b) noexcept {
        return a.slot == b.slot && a.generation == b.generation;
    }
    friend bool operator!=(const ClientId &a, const ClientId &b) noexcept { return !(a == b); }
};

/// Server::try_recv / recv_blocking: the next request is larger than the
/// buffer. It stays queued: the next call with a buffer of len() bytes
/// takes it first, or Server::disconnect its client() (also one that has
/// left).
class RequestTooLarge : public TooLarge {
  public:
    RequestTooLarge(const std::string &what, ClientId client, Priority priority, std::size_t len)
        : TooLarge(what), client_(client), priority_(priority), len_(len) {}
    /// The request's sender.
    ClientId client() const noexcept { return client_; }
    /// The request's priority.
    Priority priority() const noexcept { return priority_; }
    /// The request's length in bytes.
    std::size_t len() const noexcept { return len_; }

  private:
    ClientId client_;
    Priority priority_;
    std::size_t len_;
};

/// A request: in place in the client's ring during Server::serve, or in
/// the caller's buffer after Server::try_recv / recv_blocking.
struct Request {
    ClientId client;
    Priority priority;
    ConstByteSpan data;
    std::string_view view() const noexcept { return to_string_view(data); }
};

/// A response in the caller's buffer, or in place during Client::recv_batch.
struct Response {
    Priority priority;
    ConstByteSpan data;
    std::string_view view() const noexcept { return to_string_view(data); }
};

/// What the server knows of a client.
struct ClientInfo {
    ClientId id;
    std::uint32_t pid = 0;
    float backpressure = 0; ///< the fill of its fullest request ring, 0 to 1
};

/// Options of a Server; zeros are the library's defaults.
struct ServerOptions {
    std::uint32_t max_clients = 0;       ///< 0: 64
    std::uint64_t request_capacity = 0;  ///< bytes of each request ring (0: 1 MiB)
    std::uint64_t response_capacity = 0; ///< bytes of each response ring (0: 1 MiB)
    std::array<std::uint8_t, 3> split{}; ///< percent for Critical, High, Low (all 0: 20/50/30)
    SendPolicy policy = SendPolicy::Default;
    detail::OptNs policy_timeout; ///< of Block / DropLow (nullopt: no limit)
    Permissions permissions;      ///< of the named control segment inspectors read (no write for group/others)
    std::vector<std::uint32_t> allow_users;  ///< other users admitted
    std::vector<std::uint32_t> allow_groups; ///< groups whose members are admitted
};

/// Options of a Client.
struct ClientOptions {
    /// How long to wait for the server (nullopt: no limit).
    detail::OptNs connect_timeout = std::chrono::seconds(1);
    SendPolicy policy = SendPolicy::Default;
    detail::OptNs policy_timeout; ///< of Block / DropLow (nullopt: no limit)
    /// A user whose server is trusted besides this process's and root's (0: none).
    std::uint32_t server_uid = 0;
};

namespace detail {
inline ConstByteSpan bytes_of(const void *p, std::size_t n) noexcept { return span_of<unsigned char>(p, n); }
template <typename F> void serve_trampoline(void *ctx, const rmpsc_request_t *r) noexcept {
    auto *cb = static_cast<Callback<F> *>(ctx);
    const Request req{ClientId(r->client), static_cast<Priority>(r->priority), bytes_of(r->data, r->len)};
    (*cb)(req);
}
template <typename F> void response_trampoline(void *ctx, int priority, const void *data, std::size_t len) noexcept {
    auto *cb = static_cast<Callback<F> *>(ctx);
    const Response resp{static_cast<Priority>(priority), bytes_of(data, len)};
    (*cb)(resp);
}
} // namespace detail

/// The server of a named channel: a request ring and a response ring of
/// each priority per client. One thread at a time.
class Server {
  public:
    /// Creates the channel `name` (a bare name lives under /dev/shm) and
    /// starts accepting clients. Throws Busy while a live server holds the name.
    explicit Server(const std::string &name, const ServerOptions &o = ServerOptions()) {
        rmpsc_server_options_t c{};
        c.max_clients = o.max_clients;
        c.request_capacity = o.request_capacity;
        c.response_capacity = o.response_capacity;
        for (int i = 0; i < 3; i++) c.split[i] = o.split[static_cast<std::size_t>(i)];
        c.policy = static_cast<int>(o.policy);
        c.policy_timeout_ns = detail::to_ns(o.policy_timeout);
        c.permissions = o.permissions.to_c();
        c.allow_users = o.allow_users.empty() ? nullptr : o.allow_users.data();
        c.allow_users_len = o.allow_users.size();
        c.allow_groups = o.allow_groups.empty() ? nullptr : o.allow_groups.data();
        c.allow_groups_len = o.allow_groups.size();
        detail::check(rmpsc_server_create(name.c_str(), &c, h_.out()), "rmpsc_server_create");
    }

    /// Calls `f(const Request &)` for up to `max` requests in place, every
    /// client's Critical first, then High, then Low; the count (0: none).
    /// `f` runs inside the server's side, so a call on this Server from it
    /// throws Busy: keep what the replies need and send them afterwards.
    template <typename F> std::size_t serve(F &&f, std::size_t max = std::numeric_limits<std::size_t>::max()) {
        using Fn = std::remove_reference_t<F>;
        detail::Callback<Fn> cb{&f, nullptr};
        std::size_t n = 0;
        int rc = rmpsc_server_serve(h_.get(), max, &detail::serve_trampoline<Fn>, &cb, &n);
        cb.rethrow();
        detail::check(rc, "rmpsc_server_serve");
        return n;
    }
    /// The next request copied into `buf`, or nullopt when none waits.
    /// Throws RequestTooLarge when it does not fit (it stays queued).
    std::optional<Request> try_recv(ByteSpan buf) { return recv(buf, 0, "rmpsc_server_recv"); }
    /// The next request copied into `buf`, waiting up to `timeout`. Throws
    /// Timeout, RequestTooLarge.
    Request recv_blocking(ByteSpan buf, detail::OptNs timeout = std::nullopt) {
        // A zero wait here is a timeout, not "empty": the caller asked to wait.
        const std::int64_t ns = detail::to_ns(timeout);
        if (auto r = recv(buf, ns == 0 ? 1 : ns, "rmpsc_server_recv")) return *r;
        detail::raise(RMPSC_ETIMEDOUT, "rmpsc_server_recv");
    }
    /// Waits up to `timeout` until a request may be waiting. Throws Timeout.
    void wait(detail::OptNs timeout = std::nullopt) {
        detail::check(rmpsc_server_wait(h_.get(), detail::to_ns(timeout)), "rmpsc_server_wait");
    }
    /// Sends a response under the server's policy; false when it was not
    /// queued (the ring is full under Fail, or DropLow dropped it). Throws
    /// Disconnected (the client is gone), Timeout, TooLarge.
    bool send(ClientId client, Priority p, const void *data, std::size_t len) {
        bool queued = false;
        int rc = rmpsc_server_send(h_.get(), client.to_c(), static_cast<int>(p), data, len, &queued);
        if (rc == RMPSC_EFULL) return false;
        detail::check(rc, "rmpsc_server_send");
        return queued;
    }
    bool send(ClientId client, Priority p, std::string_view data) {
        return send(client, p, data.data(), data.size());
    }
    /// Room for a `len`-byte response to write in place, or nullptr when the
    /// ring is full; publish with commit().
    unsigned char *claim(ClientId client, Priority p, std::size_t len) {
        void *buf = nullptr;
        int rc = rmpsc_server_claim(h_.get(), client.to_c(), static_cast<int>(p), len, &buf);
        if (rc == RMPSC_EFULL) return nullptr;
        detail::check(rc, "rmpsc_server_claim");
        return static_cast<unsigned char *>(buf);
    }
    /// Publishes the first `len` bytes of the claimed response.
    void commit(std::size_t len) { detail::check(rmpsc_server_commit(h_.get(), len), "rmpsc_server_commit"); }
    /// Wakes `client` if it sleeps in a wait.
    void signal(ClientId client) {
        detail::check(rmpsc_server_signal(h_.get(), client.to_c()), "rmpsc_server_signal");
    }
    /// The connected clients.
    std::vector<ClientInfo> clients() const {
        std::vector<rmpsc_client_info_t> buf(16);
        for (;;) {
            std::size_t n = 0;
            detail::check(rmpsc_server_clients(h_.get(), buf.data(), buf.size(), &n), "rmpsc_server_clients");
            if (n < buf.size()) {
                std::vector<ClientInfo> out;
                out.reserve(n);
                for (std::size_t i = 0; i < n; i++) {
                    out.push_back(ClientInfo{ClientId(buf[i].id), buf[i].pid, buf[i].backpressure});
                }
                return out;
            }
            buf.resize(buf.size() * 2); // maybe more than listed: list again
        }
    }
    /// The fill of `client`'s fullest request ring, 0 to 1.
    float backpressure(ClientId client) const {
        float level = 0;
        detail::check(rmpsc_server_backpressure(h_.get(), client.to_c(), &level), "rmpsc_server_backpressure");
        return level;
    }
    /// Connected and stamped its heartbeat within `window` (nullopt: any age).
    bool is_client_alive(ClientId client, detail::OptNs window = std::nullopt) const noexcept {
        return rmpsc_server_is_client_alive(h_.get(), client.to_c(), detail::to_ns(window));
    }
    void disconnect(ClientId client) {
        detail::check(rmpsc_server_disconnect(h_.get(), client.to_c()), "rmpsc_server_disconnect");
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_server_t *native_handle() const noexcept { return h_.get(); }

  private:
    std::optional<Request> recv(ByteSpan buf, std::int64_t ns, const char *call) {
        rmpsc_client_id_t from{};
        int prio = 0;
        std::size_t len = 0;
        int rc = rmpsc_server_recv(h_.get(), buf.data(), buf.size(), ns, &from, &prio, &len);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        if (rc == RMPSC_ETOOLARGE) {
            throw RequestTooLarge(std::string(call) + ": " + rmpsc_error_message(), ClientId(from),
                                  static_cast<Priority>(prio), len);
        }
        detail::check(rc, call);
        return Request{ClientId(from), static_cast<Priority>(prio), detail::bytes_of(buf.data(), len)};
    }
    detail::Handle<rmpsc_server_t, rmpsc_server_free> h_;
};

/// A client of a named channel. One thread at a time. Once the server is
/// gone every call throws Disconnected; reconnect() carries what the old
/// server had not taken to the next one.
class Client {
  public:
    /// Connects to the channel `name`. Throws Disconnected (no live server),
    /// Full (no free slot), Timeout, HeaderMismatch, IoError (not admitted,
    /// or a server of a user not trusted).
    explicit Client(const std::string &name, const ClientOptions &o = ClientOptions()) {
        rmpsc_client_options_t c{};
        const std::int64_t ns = detail::to_ns(o.connect_timeout);
        c.connect_timeout_ns = ns == 0 ? 1 : ns; // 0 is the C default (1 s), not "no wait"
        c.policy = static_cast<int>(o.policy);
        c.policy_timeout_ns = detail::to_ns(o.policy_timeout);
        c.server_uid = o.server_uid;
        detail::check(rmpsc_client_connect(name.c_str(), &c, h_.out()), "rmpsc_client_connect");
    }

    /// Connects again after Disconnected, to the server that holds the name
    /// now; how many unsent requests were carried over (they go first).
    std::size_t reconnect() {
        std::size_t carried = 0;
        detail::check(rmpsc_client_reconnect(h_.get(), &carried), "rmpsc_client_reconnect");
        return carried;
    }
    /// Requests carried from a gone server still waiting to be sent.
    std::size_t backlog() const noexcept { return rmpsc_client_backlog(h_.get()); }
    ClientId id() const {
        rmpsc_client_id_t id{};
        detail::check(rmpsc_client_id(h_.get(), &id), "rmpsc_client_id");
        return ClientId(id);
    }
    /// Sends a request under the client's policy; false when it was not
    /// queued (the ring is full under Fail, or DropLow dropped it). Throws
    /// Disconnected, Timeout, TooLarge.
    bool send(Priority p, const void *data, std::size_t len) {
        bool queued = false;
        int rc = rmpsc_client_send(h_.get(), static_cast<int>(p), data, len, &queued);
        if (rc == RMPSC_EFULL) return false;
        detail::check(rc, "rmpsc_client_send");
        return queued;
    }
    bool send(Priority p, std::string_view data) { return send(p, data.data(), data.size()); }
    /// Sends every payload of `payloads` (elements with data() and size():
    /// strings, string_views, spans, vectors) in order, publishing as many
    /// as fit at once; how many were queued (fewer only when DropLow dropped
    /// the rest). Under Fail a full ring throws Full: the C call does not
    /// say how many went before it.
    template <typename Range> std::size_t send_many(Priority p, const Range &payloads) {
        std::vector<const void *> datas;
        std::vector<std::size_t> lens;
        for (const auto &m : payloads) {
            datas.push_back(static_cast<const void *>(std::data(m)));
            lens.push_back(std::size(m) * sizeof(*std::data(m)));
        }
        std::size_t sent = 0;
        detail::check(rmpsc_client_send_many(h_.get(), static_cast<int>(p), datas.empty() ? nullptr : datas.data(),
                                             lens.empty() ? nullptr : lens.data(), datas.size(), &sent),
                      "rmpsc_client_send_many");
        return sent;
    }
    /// Room for a `len`-byte request to write in place, or nullptr when the
    /// ring is full; publish with commit().
    unsigned char *claim(Priority p, std::size_t len) {
        void *buf = nullptr;
        int rc = rmpsc_client_claim(h_.get(), static_cast<int>(p), len, &buf);
        if (rc == RMPSC_EFULL) return nullptr;
        detail::check(rc, "rmpsc_client_claim");
        return static_cast<unsigned char *>(buf);
    }
    /// Publishes the first `len` bytes of the claimed request.
    void commit(std::size_t len) { detail::check(rmpsc_client_commit(h_.get(), len), "rmpsc_client_commit"); }
    /// The next response copied into `buf`, or nullopt when none waits.
    /// Throws TooLarge (it stays queued), Disconnected.
    std::optional<Response> try_recv(ByteSpan buf) { return recv(buf, 0); }
    /// The next response, waiting up to `timeout`. Throws Timeout, TooLarge,
    /// Disconnected.
    Response recv_blocking(ByteSpan buf, detail::OptNs timeout = std::nullopt) {
        const std::int64_t ns = detail::to_ns(timeout);
        if (auto r = recv(buf, ns == 0 ? 1 : ns)) return *r;
        detail::raise(RMPSC_ETIMEDOUT, "rmpsc_client_recv");
    }
    /// Calls `f(const Response &)` for up to `max` responses in place,
    /// highest priority first; the count (0: none).
    template <typename F> std::size_t recv_batch(F &&f, std::size_t max = std::numeric_limits<std::size_t>::max()) {
        using Fn = std::remove_reference_t<F>;
        detail::Callback<Fn> cb{&f, nullptr};
        std::size_t n = 0;
        int rc = rmpsc_client_recv_batch(h_.get(), max, &detail::response_trampoline<Fn>, &cb, &n);
        cb.rethrow();
        detail::check(rc, "rmpsc_client_recv_batch");
        return n;
    }
    /// Waits up to `timeout` until a response waits. Throws Timeout, Disconnected.
    void wait(detail::OptNs timeout = std::nullopt) {
        detail::check(rmpsc_client_wait(h_.get(), detail::to_ns(timeout)), "rmpsc_client_wait");
    }
    /// Rings the server's doorbell.
    void signal() { detail::check(rmpsc_client_signal(h_.get()), "rmpsc_client_signal"); }
    /// The fill of this client's fullest request ring, 0 to 1.
    float backpressure() const {
        float level = 0;
        detail::check(rmpsc_client_backpressure(h_.get(), &level), "rmpsc_client_backpressure");
        return level;
    }
    /// The server's socket is open and its heartbeat younger than `window`
    /// (nullopt: any age).
    bool is_server_alive(detail::OptNs window = std::nullopt) const noexcept {
        return rmpsc_client_is_server_alive(h_.get(), detail::to_ns(window));
    }
    /// Low messages dropped by DropLow so far.
    std::uint64_t dropped() const noexcept { return rmpsc_client_dropped(h_.get()); }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_client_t *native_handle() const noexcept { return h_.get(); }

  private:
    std::optional<Response> recv(ByteSpan buf, std::int64_t ns) {
        int prio = 0;
        std::size_t len = 0;
        int rc = rmpsc_client_recv(h_.get(), buf.data(), buf.size(), ns, &prio, &len);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_client_recv");
        return Response{static_cast<Priority>(prio), detail::bytes_of(buf.data(), len)};
    }
    detail::Handle<rmpsc_client_t, rmpsc_client_free> h_;
};

// ---------------------------------------------------------------- persistent log

/// A place in a log: file sequence number (0 for `path`, n for `path.n`)
/// and byte offset of a record.
struct LogPosition {
    std::uint64_t file = 0;
    std::uint64_t offset = 0;

    LogPosition() = default;
    LogPosition(std::uint64_t f, std::uint64_t o) noexcept : file(f), offset(o) {}
    LogPosition(const rmpsc_log_position_t &p) noexcept : file(p.file), offset(p.offset) {}
    rmpsc_log_position_t to_c() const noexcept { return rmpsc_log_position_t{file, offset}; }
    friend bool operator==(const LogPosition &a, const LogPosition &b) noexcept {
        return a.file == b.file && a.offset == b.offset;
    }
    friend bool operator!=(const LogPosition &a, const LogPosition &b) noexcept { return !(a == b); }
};

/// A record read in place: `data` stays valid until the next call on the
/// same reader.
struct LogRecord {
    std::uint32_t type = 0;
    std::uint64_t timestamp = 0;
    std::uint64_t index = 0;
    LogPosition position;
    ConstByteSpan data;

    LogRecord() = default;
    LogRecord(const rmpsc_log_message_t &m) noexcept
        : type(m.msg_type), timestamp(m.timestamp), index(m.index), position(m.position),
          data(detail::bytes_of(m.data, m.len)) {}
    std::string_view view() const noexcept { return to_string_view(data); }
};

/// When a log writer forces its pages to storage.
enum class Durability : int {
    None = RMPSC_LOG_DURABLE_NONE,         ///< the kernel's choice (survives a process crash)
    Records = RMPSC_LOG_DURABLE_RECORDS,   ///< msync every `durability_arg` records
    Interval = RMPSC_LOG_DURABLE_INTERVAL, ///< msync at the first commit `durability_arg` ns after the last
    Commit = RMPSC_LOG_DURABLE_COMMIT,     ///< msync every record (slow)
};

/// Options of a LogWriter; zeros are the library's defaults, or for an
/// existing log its own sizes.
struct LogOptions {
    std::uint64_t region_size = 0; ///< a multiple of the page size (0: 1 MiB)
    std::uint64_t file_size = 0;   ///< a multiple of the region size (0: 64 MiB)
    std::uint32_t mtu = 0;         ///< largest payload (0: what a region holds)
    Durability durability = Durability::None;
    std::uint64_t durability_arg = 0;
    std::uint64_t retention_files = 0; ///< keep the newest this many files (0: all)
    bool prefault = false;             ///< a thread faults pages in ahead of the writer
    std::uint32_t prefault_cpu = 0;    ///< 0: the opener's CPU mask; n: pin that thread to CPU n - 1
    bool no_checksums = false;         ///< a new log without record CRCs

    rmpsc_log_options_t to_c() const noexcept {
        rmpsc_log_options_t c{};
        c.region_size = region_size;
        c.file_size = file_size;
        c.mtu = mtu;
        c.durability = static_cast<int>(durability);
        c.durability_arg = durability_arg;
        c.retention_files = retention_files;
        c.prefault = prefault;
        c.prefault_cpu = prefault_cpu;
        c.no_checksums = no_checksums;
        return c;
    }
};

/// The state of a log's writer as a reader sees it.
enum class WriterStatus : int {
    Active = RMPSC_LOG_WRITER_ACTIVE,
    Closed = RMPSC_LOG_WRITER_CLOSED, ///< the last writer closed the log cleanly
    Dead = RMPSC_LOG_WRITER_DEAD,     ///< the last writer died without closing it
};

/// The single writer of a log (files `path`, `path.1`, ...). Destroying it
/// closes the log cleanly. One thread at a time.
class LogWriter {
  public:
    /// Opens (creating if needed) the log at `path`; reopening after a crash
    /// resumes after the last committed record. Throws Busy (another writer
    /// holds it), InvalidArgument (sizes), HeaderMismatch, Corrupt, IoError.
    explicit LogWriter(const std::string &path, const LogOptions &o = LogOptions()) {
        const rmpsc_log_options_t c = o.to_c();
        detail::check(rmpsc_log_writer_open(path.c_str(), &c, h_.out()), "rmpsc_log_writer_open");
    }

    /// Room for a `len`-byte payload to write in place; publish with
    /// commit() or drop with abort(). Throws TooLarge (above the MTU).
    ByteSpan reserve(std::size_t len) {
        void *buf = nullptr;
        detail::check(rmpsc_log_writer_reserve(h_.get(), len, &buf), "rmpsc_log_writer_reserve");
        return len == 0 ? ByteSpan() : ByteSpan(static_cast<unsigned char *>(buf), len);
    }
    /// Publishes the first `len` reserved bytes as a record; its index.
    std::uint64_t commit(std::uint32_t type, std::size_t len, std::uint64_t timestamp = 0) {
        std::uint64_t index = 0;
        detail::check(rmpsc_log_writer_commit(h_.get(), type, len, timestamp, &index), "rmpsc_log_writer_commit");
        return index;
    }
    /// Drops the reservation.
    void abort() { detail::check(rmpsc_log_writer_abort(h_.get()), "rmpsc_log_writer_abort"); }
    /// Appends a copy of `len` bytes as one record; its index. The timestamp
    /// is not optional here, so that append(type, "text", ts) cannot be
    /// read as a pointer and a length.
    std::uint64_t append(std::uint32_t type, const void *data, std::size_t len, std::uint64_t timestamp) {
        std::uint64_t index = 0;
        detail::check(rmpsc_log_writer_append(h_.get(), type, data, len, timestamp, &index),
                      "rmpsc_log_writer_append");
        return index;
    }
    std::uint64_t append(std::uint32_t type, ConstByteSpan data, std::uint64_t timestamp = 0) {
        return append(type, data.data(), data.size(), timestamp);
    }
    std::uint64_t append(std::uint32_t type, std::string_view data, std::uint64_t timestamp = 0) {
        return append(type, data.data(), data.size(), timestamp);
    }
    /// Ends the current file and continues in the next.
    void roll() { detail::check(rmpsc_log_writer_roll(h_.get()), "rmpsc_log_writer_roll"); }
    /// Forces what was written since the last flush to storage.
    void flush() { detail::check(rmpsc_log_writer_flush(h_.get()), "rmpsc_log_writer_flush"); }
    /// Largest payload in bytes.
    std::size_t mtu() const noexcept { return rmpsc_log_writer_mtu(h_.get()); }
    /// The index the next record will get.
    std::uint64_t next_index() const {
        std::uint64_t i = 0;
        detail::check(rmpsc_log_writer_next_index(h_.get(), &i), "rmpsc_log_writer_next_index");
        return i;
    }
    /// Where the next record goes.
    LogPosition position() const {
        rmpsc_log_position_t p{};
        detail::check(rmpsc_log_writer_position(h_.get(), &p), "rmpsc_log_writer_position");
        return p;
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_log_writer_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_log_writer_t, rmpsc_log_writer_free> h_;
};

/// A reader of a log, in any process. One thread at a time. A log is a
/// file a later writer may extend, so the non-blocking reads report only
/// "nothing new" (nullopt, 0); read_blocking tells a closed log (Closed)
/// or a dead writer (Disconnected) apart. Range-for reads what is committed
/// now and ends when nothing new is.
class LogReader {
  public:
    /// Opens the log at `path` from its oldest record (`live` false: a
    /// replay) or from the end of what is committed now. Throws IoError (no
    /// such log), HeaderMismatch, Corrupt.
    explicit LogReader(const std::string &path, bool live = false) {
        detail::check(rmpsc_log_reader_open(path.c_str(), live, h_.out()), "rmpsc_log_reader_open");
    }
    /// A reader at record `index`. Throws Behind (deleted by retention),
    /// InvalidArgument (not written yet).
    static LogReader at_index(const std::string &path, std::uint64_t index) {
        LogReader r;
        detail::check(rmpsc_log_reader_open_at_index(path.c_str(), index, r.h_.out()),
                      "rmpsc_log_reader_open_at_index");
        return r;
    }
    /// A reader at a position from position() or a record. Throws
    /// InvalidArgument (not a record boundary), Behind.
    static LogReader at(const std::string &path, LogPosition pos) {
        LogReader r;
        const rmpsc_log_position_t p = pos.to_c();
        detail::check(rmpsc_log_reader_open_at(path.c_str(), &p, r.h_.out()), "rmpsc_log_reader_open_at");
        return r;
    }

    /// The next committed record in place, or nullopt when nothing new is.
    /// Throws Corrupt, Behind.
    std::optional<LogRecord> try_read() {
        rmpsc_log_message_t m{};
        int rc = rmpsc_log_reader_read(h_.get(), &m);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_log_reader_read");
        return LogRecord(m);
    }
    /// The next record, waiting up to `timeout`. Throws Timeout, Closed (the
    /// writer closed the log and everything is read), Disconnected (the
    /// writer died), Corrupt.
    LogRecord read_blocking(detail::OptNs timeout = std::nullopt) {
        rmpsc_log_message_t m{};
        detail::check(rmpsc_log_reader_read_blocking(h_.get(), detail::to_ns(timeout), &m),
                      "rmpsc_log_reader_read_blocking");
        return LogRecord(m);
    }
    /// Up to `max` committed records in place into `out` (replacing its
    /// contents; a batch ends at a file roll); the count (0: nothing new).
    std::size_t read_batch(std::vector<LogRecord> &out, std::size_t max) {
        scratch_.resize(max);
        std::size_t n = 0;
        detail::check(rmpsc_log_reader_read_batch(h_.get(), scratch_.empty() ? nullptr : scratch_.data(), max, &n),
                      "rmpsc_log_reader_read_batch");
        out.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(n));
        return n;
    }
    /// Where the next read starts.
    LogPosition position() const {
        rmpsc_log_position_t p{};
        detail::check(rmpsc_log_reader_position(h_.get(), &p), "rmpsc_log_reader_position");
        return p;
    }
    /// The index of the next record to read.
    std::uint64_t next_index() const {
        std::uint64_t i = 0;
        detail::check(rmpsc_log_reader_next_index(h_.get(), &i), "rmpsc_log_reader_next_index");
        return i;
    }
    /// Moves to a record boundary (else InvalidArgument).
    void seek(LogPosition pos) {
        const rmpsc_log_position_t p = pos.to_c();
        detail::check(rmpsc_log_reader_seek(h_.get(), &p), "rmpsc_log_reader_seek");
    }
    WriterStatus writer_status() const {
        int s = 0;
        detail::check(rmpsc_log_reader_writer_status(h_.get(), &s), "rmpsc_log_reader_writer_status");
        return static_cast<WriterStatus>(s);
    }

    using iterator = detail::PullIterator<LogReader, LogRecord>;
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_log_reader_t *native_handle() const noexcept { return h_.get(); }

  private:
    template <typename, typename> friend class detail::PullIterator;
    std::optional<LogRecord> pull() { return try_read(); }
    LogReader() = default;
    detail::Handle<rmpsc_log_reader_t, rmpsc_log_reader_free> h_;
    std::vector<rmpsc_log_message_t> scratch_;
};

// ---------------------------------------------------------------- descriptors

/// An owned file descriptor, closed on destruction.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    UniqueFd(UniqueFd &&o) noexcept : fd_(o.release()) {}
    UniqueFd &operator=(UniqueFd &&o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    int get() const noexcept { return fd_; }
    /// Gives up ownership.
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }
    explicit operator bool() const noexcept { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

/// A listening Unix socket that hands out descriptors; its socket file is
/// removed on destruction.
class FdServer {
  public:
    /// Binds and listens at `path` (which must not exist).
    explicit FdServer(const std::string &path) {
        detail::check(rmpsc_fd_server_listen(path.c_str(), h_.out()), "rmpsc_fd_server_listen");
    }
    /// Accepts one connection (blocks). One thread at a time.
    UniqueFd accept() {
        int conn = -1;
        detail::check(rmpsc_fd_server_accept(h_.get(), &conn), "rmpsc_fd_server_accept");
        return UniqueFd(conn);
    }
    explicit operator bool() const noexcept { return h_.get() != nullptr; }
    rmpsc_fd_server_t *native_handle() const noexcept { return h_.get(); }

  private:
    detail::Handle<rmpsc_fd_server_t, rmpsc_fd_server_free> h_;
};

/// Connects to the Unix socket at `path`.
inline UniqueFd connect_unix(const std::string &path) {
    int conn = -1;
    detail::check(rmpsc_fd_connect(path.c_str(), &conn), "rmpsc_fd_connect");
    return UniqueFd(conn);
}
/// Sends descriptor `fd` over the connected Unix socket `sock`.
inline void send_fd(int sock, int fd) { detail::check(rmpsc_fd_send(sock, fd), "rmpsc_fd_send"); }
/// Receives a descriptor sent with send_fd. Throws Disconnected (peer closed).
inline UniqueFd recv_fd(int sock) {
    int fd = -1;
    detail::check(rmpsc_fd_recv(sock, &fd), "rmpsc_fd_recv");
    return UniqueFd(fd);
}

// ---------------------------------------------------------------- NUMA

namespace numa {

/// Number of NUMA nodes (at least 1).
inline std::size_t node_count() noexcept { return rmpsc_numa_node_count(); }
/// More than one node.
inline bool is_numa() noexcept { return rmpsc_numa_is_numa(); }
/// The id of the node at `index` (0 .. node_count()).
inline std::size_t node_id(std::size_t index) {
    std::size_t id = 0;
    detail::check(rmpsc_numa_node_id(index, &id), "rmpsc_numa_node_id");
    return id;
}
/// The CPUs of node `node`.
inline std::vector<std::size_t> node_cpus(std::size_t node) {
    std::vector<std::size_t> cpus;
    for (;;) {
        std::size_t count = 0;
        detail::check(rmpsc_numa_node_cpus(node, cpus.empty() ? nullptr : cpus.data(), cpus.size(), &count),
                      "rmpsc_numa_node_cpus");
        if (count <= cpus.size()) {
            cpus.resize(count);
            return cpus;
        }
        cpus.resize(count);
    }
}
inline std::size_t node_of_cpu(std::size_t cpu) noexcept { return rmpsc_numa_node_of_cpu(cpu); }
/// The nearest node to `node` by the kernel's distances.
inline std::size_t nearest_node(std::size_t node) noexcept { return rmpsc_numa_nearest_node(node); }
/// Pins the calling thread to `cpu`.
inline void bind_to_cpu(std::size_t cpu) { detail::check(rmpsc_numa_bind_to_cpu(cpu), "rmpsc_numa_bind_to_cpu"); }
/// Pins the calling thread to the CPUs of `node`.
inline void bind_to_node(std::size_t node) {
    detail::check(rmpsc_numa_bind_to_node(node), "rmpsc_numa_bind_to_node");
}
/// The CPU the calling thread runs on.
inline std::size_t current_cpu() {
    std::size_t cpu = 0;
    detail::check(rmpsc_numa_current_cpu(&cpu), "rmpsc_numa_current_cpu");
    return cpu;
}
inline std::size_t current_node() noexcept { return rmpsc_numa_current_node(); }
/// Asks the kernel to keep `[addr, addr + len)` on `node`. Throws IoError
/// where the kernel refuses (placement is an optimisation).
inline void bind_memory(void *addr, std::size_t len, std::size_t node) {
    detail::check(rmpsc_numa_bind_memory(addr, len, node), "rmpsc_numa_bind_memory");
}

/// Zeroed, page-aligned memory placed on a node, unmapped on destruction.
class Memory {
  public:
    Memory() = default;
    /// `len` bytes on `node`.
    Memory(std::size_t len, std::size_t node) : len_(len) {
        detail::check(rmpsc_numa_alloc(len, node, &ptr_), "rmpsc_numa_alloc");
    }
    ~Memory() { rmpsc_numa_free(ptr_, len_); }
    Memory(const Memory &) = delete;
    Memory &operator=(const Memory &) = delete;
    Memory(Memory &&o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
    Memory &operator=(Memory &&o) noexcept {
        if (this != &o) {
            rmpsc_numa_free(ptr_, len_);
            ptr_ = std::exchange(o.ptr_, nullptr);
            len_ = std::exchange(o.len_, 0);
        }
        return *this;
    }
    void *data() const noexcept { return ptr_; }
    std::size_t size() const noexcept { return len_; }
    ByteSpan bytes() const noexcept { return detail::span_of<unsigned char>(ptr_, ptr_ ? len_ : 0); }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

  private:
    void *ptr_ = nullptr;
    std::size_t len_ = 0;
};

} // namespace numa

} // namespace ringmpsc

#endif // RINGMPSC_HPP
