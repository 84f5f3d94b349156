// ringmpsc C++ wrapper: header-only, move-only RAII types over ringmpsc.h.
//
// Errors become ringmpsc::Error exceptions (with the RMPSC_E* code), except
// for the outcomes a caller polls for, which are return values: try_send
// returns false when full, try_recv returns std::nullopt when empty.
#ifndef RINGMPSC_HPP
#define RINGMPSC_HPP

#include <chrono>
#include <cstddef>
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
        throw Error(rc, std::string(call) + ": " + rmpsc_last_error());
    }
}
inline int64_t to_ns(std::optional<std::chrono::nanoseconds> t) {
    return t ? static_cast<int64_t>(t->count()) : -1;
}
} // namespace detail

/// Slots reserved for writing in place; publish them with Ring::commit.
template <typename T> struct Span {
    T *data;
    std::size_t count;
    T *begin() const { return data; }
    T *end() const { return data + count; }
};

/// An in-process SPSC ring of trivially copyable `T`. One producer thread
/// and one consumer thread; a second thread on a busy side gets RMPSC_EBUSY.
template <typename T> class Ring {
    static_assert(std::is_trivially_copyable<T>::value,
                  "ring slots are copied as bytes: T must be trivially copyable");

  public:
    /// A ring of `capacity` slots (a power of two).
    explicit Ring(std::size_t capacity) {
        detail::check(rmpsc_ring_new(capacity, sizeof(T), &ring_), "rmpsc_ring_new");
    }
    ~Ring() { rmpsc_ring_free(ring_); }
    Ring(const Ring &) = delete;
    Ring &operator=(const Ring &) = delete;
    Ring(Ring &&other) noexcept : ring_(std::exchange(other.ring_, nullptr)) {}
    Ring &operator=(Ring &&other) noexcept {
        if (this != &other) {
            rmpsc_ring_free(ring_);
            ring_ = std::exchange(other.ring_, nullptr);
        }
        return *this;
    }

    // ---- producer side ----

    /// Sends one item; false when the ring is full.
    bool try_send(const T &item) {
        std::size_t sent = 0;
        detail::check(rmpsc_ring_send(ring_, &item, 1, &sent), "rmpsc_ring_send");
        return sent == 1;
    }
    /// Sends as many of `items` as fit (one commit); returns the count.
    std::size_t send(const T *items, std::size_t n) {
        std::size_t sent = 0;
        detail::check(rmpsc_ring_send(ring_, items, n, &sent), "rmpsc_ring_send");
        return sent;
    }
    /// Sends all `n` items, waiting while full (no timeout: without limit).
    void send_blocking(const T *items, std::size_t n,
                       std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        detail::check(rmpsc_ring_send_blocking(ring_, items, n, detail::to_ns(timeout), nullptr),
                      "rmpsc_ring_send_blocking");
    }
    /// Up to `n` contiguous free slots, or an empty span when full.
    Span<T> reserve(std::size_t n) {
        void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_ring_reserve(ring_, n, &slots, &count);
        if (rc == RMPSC_EFULL) return {nullptr, 0};
        detail::check(rc, "rmpsc_ring_reserve");
        return {static_cast<T *>(slots), count};
    }
    /// Publishes the first `n` reserved slots.
    void commit(std::size_t n) { detail::check(rmpsc_ring_commit(ring_, n), "rmpsc_ring_commit"); }

    // ---- consumer side ----

    /// One item, or nullopt when empty. Throws RMPSC_ECLOSED once closed and drained.
    std::optional<T> try_recv() {
        T item;
        int rc = rmpsc_ring_try_recv(ring_, &item);
        if (rc == RMPSC_EEMPTY) return std::nullopt;
        detail::check(rc, "rmpsc_ring_try_recv");
        return item;
    }
    /// Copies up to `max` items into `out`; returns the count (0 when empty).
    std::size_t recv(T *out, std::size_t max) {
        std::size_t got = 0;
        detail::check(rmpsc_ring_recv(ring_, out, max, &got), "rmpsc_ring_recv");
        return got;
    }
    /// Waits for at least one item, then copies up to `max`. Returns 0 once
    /// the ring is closed and drained; throws RMPSC_ETIMEDOUT on timeout.
    std::size_t recv_blocking(T *out, std::size_t max,
                              std::optional<std::chrono::nanoseconds> timeout = std::nullopt) {
        std::size_t got = 0;
        int rc = rmpsc_ring_recv_blocking(ring_, out, max, detail::to_ns(timeout), &got);
        if (rc == RMPSC_ECLOSED) return 0;
        detail::check(rc, "rmpsc_ring_recv_blocking");
        return got;
    }
    /// The readable items at the head (contiguous), empty when none; free
    /// them with advance().
    Span<const T> readable() {
        const void *slots = nullptr;
        std::size_t count = 0;
        int rc = rmpsc_ring_readable(ring_, &slots, &count);
        if (rc == RMPSC_EEMPTY || rc == RMPSC_ECLOSED) return {nullptr, 0};
        detail::check(rc, "rmpsc_ring_readable");
        return {static_cast<const T *>(slots), count};
    }
    /// Frees `n` items read through readable().
    void advance(std::size_t n) { detail::check(rmpsc_ring_advance(ring_, n), "rmpsc_ring_advance"); }

    // ---- either side / any thread ----

    std::size_t size() const { return rmpsc_ring_len(ring_); }
    std::size_t capacity() const { return rmpsc_ring_capacity(ring_); }
    void close() { detail::check(rmpsc_ring_close(ring_), "rmpsc_ring_close"); }
    bool is_closed() const { return rmpsc_ring_is_closed(ring_); }
    rmpsc_ring_t *native_handle() const noexcept { return ring_; }

  private:
    rmpsc_ring_t *ring_ = nullptr;
};

} // namespace ringmpsc

#endif // RINGMPSC_HPP
