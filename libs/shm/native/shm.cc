// framewire_shm: the only native code of the shared-memory frame ring (docs/shm.md). POSIX
// shared-memory objects mapped as JavaScript Buffers, the free space of /dev/shm, and the 64-bit
// acquire/release loads and stores the slot sequence lock needs. Everything else is TypeScript.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace {

// One mapping; owned by the Buffer's finalizer. `live` turns false on an explicit close, after
// which the address range holds private anonymous memory (see Close).
struct Mapping {
  void* addr;
  size_t length;
  bool live;
};

Napi::Value ThrowErrno(Napi::Env env, const char* call, const std::string& name, int err) {
  Napi::Error error = Napi::Error::New(env, std::string(call) + " '" + name + "': " + strerror(err));
  error.Set("code", Napi::String::New(env, err == ENOENT ? "ENOENT" : err == EEXIST ? "EEXIST" : err == EACCES ? "EACCES" : "ESHM"));
  error.Set("errno", Napi::Number::New(env, err));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

void FinalizeMapping(Napi::Env, uint8_t*, Mapping* mapping) {
  munmap(mapping->addr, mapping->length);
  delete mapping;
}

Napi::Value MapFd(Napi::Env env, int fd, size_t length, bool writable, const std::string& name) {
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = mmap(nullptr, length, prot, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (addr == MAP_FAILED) return ThrowErrno(env, "mmap", name, err);
  Mapping* mapping = new Mapping{addr, length, true};
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(addr), length, FinalizeMapping, mapping);
  // Keep the mapping reachable for Close: the Buffer's address identifies it.
  buffer.Set("__framewireMapping", Napi::External<Mapping>::New(env, mapping));
  return buffer;
}

std::string ShmPath(const Napi::Value& value) { return "/" + value.As<Napi::String>().Utf8Value(); }

// create(name, size, mode): a new object (O_EXCL), sized and mapped read-write.
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ShmPath(info[0]);
  size_t length = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  mode_t mode = static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value());
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, mode);
  if (fd < 0) return ThrowErrno(env, "shm_open", name, errno);
  // shm_open applies the umask; the ring's mode is a security decision, so set it exactly.
  if (fchmod(fd, mode) != 0 || ftruncate(fd, static_cast<off_t>(length)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return ThrowErrno(env, "ftruncate", name, err);
  }
  return MapFd(env, fd, length, true, name);
}

// open(name, writable): an existing object mapped at its full size.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ShmPath(info[0]);
  bool writable = info[1].As<Napi::Boolean>().Value();
  int fd = shm_open(name.c_str(), writable ? O_RDWR : O_RDONLY, 0);
  if (fd < 0) return ThrowErrno(env, "shm_open", name, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, "fstat", name, err);
  }
  if (st.st_size <= 0) {
    close(fd);
    return ThrowErrno(env, "open", name, EINVAL);
  }
  return MapFd(env, fd, static_cast<size_t>(st.st_size), writable, name);
}

Napi::Value Unlink(const Napi::CallbackInfo& info) {
  std::string name = ShmPath(info[0]);
  if (shm_unlink(name.c_str()) != 0 && errno != ENOENT) return ThrowErrno(info.Env(), "shm_unlink", name, errno);
  return Napi::Boolean::New(info.Env(), true);
}

// close(buffer): drop the shared mapping now instead of at garbage collection. The range is
// replaced by private zero pages so that a stale view reads zeros instead of crashing the process.
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value handle = info[0].As<Napi::Object>().Get("__framewireMapping");
  if (!handle.IsExternal()) return env.Undefined();
  Mapping* mapping = handle.As<Napi::External<Mapping>>().Data();
  if (!mapping->live) return env.Undefined();
  mapping->live = false;
  mmap(mapping->addr, mapping->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return env.Undefined();
}

Napi::Value FreeBytes(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) return ThrowErrno(info.Env(), "statvfs", path, errno);
  return Napi::Number::New(info.Env(), static_cast<double>(st.f_bavail) * static_cast<double>(st.f_frsize));
}

// Atomics at byte offsets of a mapping. Values are JavaScript numbers: the ring keeps them below 2^53.
template <typename T>
T* AtomicAt(const Napi::CallbackInfo& info) {
  Napi::Buffer<uint8_t> buffer = info[0].As<Napi::Buffer<uint8_t>>();
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  if (offset < 0 || offset % sizeof(T) != 0 || static_cast<size_t>(offset) + sizeof(T) > buffer.Length() ||
      reinterpret_cast<uintptr_t>(buffer.Data()) % sizeof(T) != 0) {
    Napi::RangeError::New(info.Env(), "atomic offset " + std::to_string(offset) + " is unaligned or outside the buffer").ThrowAsJavaScriptException();
    return nullptr;
  }
  return reinterpret_cast<T*>(buffer.Data() + offset);
}

template <typename T, int Order>
Napi::Value Load(const Napi::CallbackInfo& info) {
  T* p = AtomicAt<T>(info);
  if (p == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(__atomic_load_n(p, Order)));
}

// fenceLoad64: an acquire fence, then a relaxed load: the reader's second sequence check, ordered
// after the reads of the slot's bytes.
Napi::Value FenceLoad64(const Napi::CallbackInfo& info) {
  uint64_t* p = AtomicAt<uint64_t>(info);
  if (p == nullptr) return info.Env().Undefined();
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return Napi::Number::New(info.Env(), static_cast<double>(__atomic_load_n(p, __ATOMIC_RELAXED)));
}

template <typename T, int Order>
Napi::Value Store(const Napi::CallbackInfo& info) {
  T* p = AtomicAt<T>(info);
  if (p == nullptr) return info.Env().Undefined();
  __atomic_store_n(p, static_cast<T>(info[2].As<Napi::Number>().Int64Value()), Order);
  return info.Env().Undefined();
}

// storeFence64: a relaxed store, then a release fence: the writer's "odd" sequence, ordered
// before its writes of the slot's bytes.
Napi::Value StoreFence64(const Napi::CallbackInfo& info) {
  uint64_t* p = AtomicAt<uint64_t>(info);
  if (p == nullptr) return info.Env().Undefined();
  __atomic_store_n(p, static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()), __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("create", Napi::Function::New(env, Create));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("unlink", Napi::Function::New(env, Unlink));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("freeBytes", Napi::Function::New(env, FreeBytes));
  exports.Set("load64Acquire", Napi::Function::New(env, Load<uint64_t, __ATOMIC_ACQUIRE>));
  exports.Set("fenceLoad64", Napi::Function::New(env, FenceLoad64));
  exports.Set("store64Release", Napi::Function::New(env, Store<uint64_t, __ATOMIC_RELEASE>));
  exports.Set("storeFence64", Napi::Function::New(env, StoreFence64));
  exports.Set("load32Acquire", Napi::Function::New(env, Load<uint32_t, __ATOMIC_ACQUIRE>));
  exports.Set("store32Release", Napi::Function::New(env, Store<uint32_t, __ATOMIC_RELEASE>));
  return exports;
}

}  // namespace

NODE_API_MODULE(framewire_shm, Init)
