// ringmpsc C++ wrapper: header-only, move-only RAII types over ringmpsc.h:
// Ring<T> (in-process, or one side of a shared ring), SharedRing<T> (fixed
// slots in shared memory) and MessageRing with its MessageSender and
// MessageReceiver (byte messages in shared memory).
//
// Errors become ringmpsc::Error exceptions (with the RMPSC_E* code), except
// for the outcomes a caller polls for, which are return values: try_send
// returns false when full, try_recv returns std::nullopt when empty.
#ifndef RINGMPSC_HPP
#define RINGMPSC_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "ringmpsc.h"

namespace ringmpsc {

/// A failed call: `code()` is the RMPSC_E* value, `what()` the reason.
class Error : public std::runtime_error {
  public:
    Error(int code, const std::string &what) : std::runtime_error(what), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

namespace detail {
inline void check(int rc, const char *call) {
    if (rc != RMPSC_OK) {
        throw Error(rc, std::string(call) + ": " + rmpsc_error_message());
    }
}
inline int64_t to_ns(std::optional<std::chrono::nanoseconds> t) {
    return t ? static_cast<int64_t>(t->count()) : -1;
}

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
} // namespace detail

/// Slots reserved for writing in place; publish them with Ring::commit.
template <typename T> struct Span {
    T *data;
    std::size_t count;
    T *begin() const { return data; }
    T *end() const { return data + count; }
};

/// An SPSC ring of trivially copyable `T`: in-process (both sides), or one
/// side of a SharedRing. One thread per side; a second thread on a busy
/// side gets RMPSC_EBUSY.
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
        std::size_t sent = 0;
        detail::check(rmpsc_ring_send(ring_.get(), &item, 1, &sent), "rmpsc_ring_send");
        return sent == 1;
    }
    /// Sends as many of `items` as fit (one commit); returns the count.
    std::size_t send(const T *items, std::size_t n) {
        std::size_t sent = 0;
        detail::check(rmpsc_ring_send(ring_.get(), items, n, &sent), "rmpsc_ring_send");
        return sent;
    }
    /// Sends all `n` items, waiting while full, all within `timeout` (none:
    /// without limit); on a timeout, throws with the items not sent left.
    void send_blocking(const T *items, std::size_t n,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        const auto end = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::nanoseconds(0));
        while (n > 0) {
            std::int64_t left = -1;
            if (timeout) {
                left = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                     end - std::chrono::steady_clock::now())
                                                     .count());
            }
            std::size_t sent = 0;
            detail::check(rmpsc_ring_send_blocking(ring_.get(), items, n, left, &sent),
                          "rmpsc_ring_send_blocking");
            items += sent;
            n -= sent;
        }
    }
    /// Up to `n` contiguous free slots, or an empty span when full.
    Span<T> reserve(std::size_t n) {
        void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_ring_reserve(ring_.get(), n, &slots, &count);
        if (rc == RMPSC_EFULL) return {nullptr, 0};
        detail::check(rc, "rmpsc_ring_reserve");
        return {static_cast<T *>(slots), count};
    }
    /// Publishes the first `n` reserved slots.
    void commit(std::size_t n) { detail::check(rmpsc_ring_commit(ring_.get(), n), "rmpsc_ring_commit"); }

    // ---- consumer side ----

    /// One item, or nullopt when empty. Throws RMPSC_ECLOSED once closed and drained.
    std::optional<T> try_recv() {
        T item;
        int rc = rmpsc_ring_try_recv(ring_.get(), &item);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_ring_try_recv");
        return item;
    }
    /// Copies up to `max` items into `out`; returns the count (0 when empty).
    std::size_t recv(T *out, std::size_t max) {
        std::size_t got = 0;
        detail::check(rmpsc_ring_recv(ring_.get(), out, max, &got), "rmpsc_ring_recv");
        return got;
    }
    /// Waits for at least one item, then copies up to `max`. Returns 0 once
    /// the ring is closed and drained; throws RMPSC_ETIMEDOUT on timeout.
    std::size_t recv_blocking(T *out, std::size_t max,
                              std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        std::size_t got = 0;
        int rc = rmpsc_ring_recv_blocking(ring_.get(), out, max, detail::to_ns(timeout), &got);
        if (rc == RMPSC_ECLOSED) return 0;
        detail::check(rc, "rmpsc_ring_recv_blocking");
        return got;
    }
    /// The readable items at the head (contiguous), empty when none; free
    /// them with advance().
    Span<const T> readable() {
        const void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_ring_peek(ring_.get(), &slots, &count);
        if (rc == RMPSC_EEMPTY || rc == RMPSC_ECLOSED) return {nullptr, 0};
        detail::check(rc, "rmpsc_ring_peek");
        return {static_cast<const T *>(slots), count};
    }
    /// Frees `n` items read through readable().
    void advance(std::size_t n) { detail::check(rmpsc_ring_advance(ring_.get(), n), "rmpsc_ring_advance"); }

    // ---- both sides ----

    /// Back to the initial state: drops what is left, reopens (both sides
    /// of an in-process ring; throws while either is in use).
    void reset() { detail::check(rmpsc_ring_reset(ring_.get()), "rmpsc_ring_reset"); }

    // ---- either side / any thread ----

    std::size_t size() const { return rmpsc_ring_len(ring_.get()); }
    std::size_t capacity() const { return rmpsc_ring_capacity(ring_.get()); }
    std::size_t available_capacity() const { return rmpsc_ring_available_capacity(ring_.get()); }
    void close() { detail::check(rmpsc_ring_close(ring_.get()), "rmpsc_ring_close"); }
    bool is_closed() const { return rmpsc_ring_is_closed(ring_.get()); }
    rmpsc_ring_t *native_handle() const noexcept { return ring_.get(); }

  private:
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
    /// /dev/shm; exclusive, mode 0600), or with an empty name an anonymous
    /// memfd to pass with fd().
    static SharedRing create(const std::string &name, std::size_t capacity) {
        SharedRing r;
        detail::check(rmpsc_shared_ring_create(name.empty() ? nullptr : name.c_str(), capacity,
                                          sizeof(T), r.h_.out()),
                      "rmpsc_shared_ring_create");
        return r;
    }
    /// Opens a named ring of `T` slots, waiting up to `timeout` (none: a day)
    /// for its creator to publish it.
    static SharedRing attach(const std::string &name,
                             std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
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
    Ring<T> producer() { return Ring<T>::adopt(side(rmpsc_shared_ring_take_producer, "rmpsc_shared_ring_take_producer")); }
    /// The consumer side for this process.
    Ring<T> consumer() { return Ring<T>::adopt(side(rmpsc_shared_ring_take_consumer, "rmpsc_shared_ring_take_consumer")); }

    std::size_t capacity() const { return rmpsc_shared_ring_capacity(h_.get()); }
    std::size_t size() const { return rmpsc_shared_ring_len(h_.get()); }
    int fd() const { return rmpsc_shared_ring_fd(h_.get()); }
    void close() { detail::check(rmpsc_shared_ring_close(h_.get()), "rmpsc_shared_ring_close"); }
    bool is_closed() const { return rmpsc_shared_ring_is_closed(h_.get()); }
    bool is_producer_alive(std::chrono::nanoseconds timeout) const {
        return rmpsc_shared_ring_is_producer_alive(h_.get(), timeout.count());
    }
    bool is_consumer_alive(std::chrono::nanoseconds timeout) const {
        return rmpsc_shared_ring_is_consumer_alive(h_.get(), timeout.count());
    }
    /// Removes the name now (mappings stay valid).
    void unlink() { detail::check(rmpsc_shared_ring_unlink(h_.get()), "rmpsc_shared_ring_unlink"); }
    /// Removes the name once this object and the sides taken from it are
    /// gone (if the name still leads to this segment).
    void unlink_on_drop(bool unlink = true) {
        detail::check(rmpsc_shared_ring_unlink_on_drop(h_.get(), unlink), "rmpsc_shared_ring_unlink_on_drop");
    }
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

/// A received message, in place in shared memory: valid until the
/// receiver's release(), which must come before the next receive.
struct Message {
    std::uint32_t type;
    const unsigned char *data;
    std::size_t size;
};

/// The sending side of a MessageRing (destroying it closes the ring).
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
    /// Publishes the first `len` claimed bytes with type `type`.
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
    /// Sends a copy, waiting up to `timeout` (none: without limit) for room.
    void send_blocking(std::uint32_t type, const void *data, std::size_t len,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        detail::check(rmpsc_msg_sender_send_blocking(h_.get(), type, data, len, detail::to_ns(timeout)),
                      "rmpsc_msg_sender_send_blocking");
    }

  private:
    detail::Handle<rmpsc_msg_sender_t, rmpsc_msg_sender_free> h_;
};

/// The receiving side of a MessageRing.
class MessageReceiver {
  public:
    explicit MessageReceiver(rmpsc_msg_receiver_t *adopted) noexcept : h_(adopted) {}

    /// The next message in place, or nullopt when none waits. Throws
    /// RMPSC_ECLOSED once closed and drained, RMPSC_ECORRUPT on a bad record.
    std::optional<Message> try_recv() {
        Message m{};
        const void *data = nullptr;
        int rc = rmpsc_msg_receiver_recv(h_.get(), &m.type, &data, &m.size);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_msg_receiver_recv");
        m.data = static_cast<const unsigned char *>(data);
        return m;
    }
    /// Waits up to `timeout` (none: without limit) for the next message;
    /// nullopt once the ring is closed and drained. Throws RMPSC_ETIMEDOUT.
    std::optional<Message> recv_blocking(std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        Message m{};
        const void *data = nullptr;
        int rc = rmpsc_msg_receiver_recv_blocking(h_.get(), detail::to_ns(timeout), &m.type, &data, &m.size);
        if (rc == RMPSC_ECLOSED) return std::nullopt;
        detail::check(rc, "rmpsc_msg_receiver_recv_blocking");
        m.data = static_cast<const unsigned char *>(data);
        return m;
    }
    /// Frees the last message received (before the next receive).
    void release() { detail::check(rmpsc_msg_receiver_release(h_.get()), "rmpsc_msg_receiver_release"); }

  private:
    detail::Handle<rmpsc_msg_receiver_t, rmpsc_msg_receiver_free> h_;
};

/// Variable-size byte messages in shared memory, for two processes in any
/// language: one MessageSender and one MessageReceiver.
class MessageRing {
  public:
    /// Creates a named ring of `capacity` bytes (a power of two), or with an
    /// empty name an anonymous memfd to pass with fd().
    static MessageRing create(const std::string &name, std::size_t capacity) {
        MessageRing r;
        detail::check(rmpsc_msg_ring_create(name.empty() ? nullptr : name.c_str(), capacity, r.h_.out()),
                      "rmpsc_msg_ring_create");
        return r;
    }
    /// Opens a named ring, waiting up to `timeout` (none: a day) for it.
    static MessageRing attach(const std::string &name,
                              std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
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

    /// The sending side for this process.
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

    std::size_t max_message() const { return rmpsc_msg_ring_max_message(h_.get()); }
    int fd() const { return rmpsc_msg_ring_fd(h_.get()); }
    void close() { detail::check(rmpsc_msg_ring_close(h_.get()), "rmpsc_msg_ring_close"); }
    bool is_closed() const { return rmpsc_msg_ring_is_closed(h_.get()); }
    bool is_sender_alive(std::chrono::nanoseconds timeout) const {
        return rmpsc_msg_ring_is_sender_alive(h_.get(), timeout.count());
    }
    bool is_receiver_alive(std::chrono::nanoseconds timeout) const {
        return rmpsc_msg_ring_is_receiver_alive(h_.get(), timeout.count());
    }
    void unlink() { detail::check(rmpsc_msg_ring_unlink(h_.get()), "rmpsc_msg_ring_unlink"); }
    void unlink_on_drop(bool unlink = true) {
        detail::check(rmpsc_msg_ring_unlink_on_drop(h_.get(), unlink), "rmpsc_msg_ring_unlink_on_drop");
    }
    rmpsc_msg_ring_t *native_handle() const noexcept { return h_.get(); }

  private:
    MessageRing() = default;
    detail::Handle<rmpsc_msg_ring_t, rmpsc_msg_ring_free> h_;
};

} // namespace ringmpsc

#endif // RINGMPSC_HPP
