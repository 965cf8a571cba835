#include "io/model_cache.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxListingBytes = 16 << 20;  // a repo's file listing; real ones are a few KB
constexpr const char* kDefaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf";

bool valid_name_part(std::string_view s) {
  if (s.empty() || s.size() > 96 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One libcurl easy handle with the settings every request shares.
struct Curl {
  CURL* handle;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};

  explicit Curl(const std::string& url) : handle(curl_easy_init()) {
    PONDER_CHECK(handle != nullptr, "cannot initialise libcurl");
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "ponder/0.1");
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, 30L);
    // A transfer slower than 1 byte/s for 60 s is dead: give up (and resume) rather than hang.
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, 60L);
    if (const char* token = std::getenv("HF_TOKEN"); token != nullptr && *token != '\0') {
      headers = curl_slist_append(headers, fmt::format("Authorization: Bearer {}", token).c_str());
      curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    }
  }
  ~Curl() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(handle);
  }
  long status() const {
    long code = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }
};

size_t append_to_string(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxListingBytes) return 0;  // makes curl fail the transfer
  out->append(data, size * n);
  return size * n;
}

nlohmann::json get_json(const std::string& url, const std::string& what) {
  Curl curl(url);
  std::string body;
  curl_easy_setopt(curl.handle, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(curl.handle, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl.handle);
  PONDER_CHECK(rc == CURLE_OK, "{}: request to {} failed: {}", what, url, curl.error[0] ? curl.error : curl_easy_strerror(rc));
  const long status = curl.status();
  PONDER_CHECK(status != 404 && status != 401, "{} not found at {} (HTTP {})", what, hub_endpoint(), status);
  PONDER_CHECK(status == 200, "{}: {} answered HTTP {}", what, url, status);
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {} sent a file listing that is not JSON: {}", what, url, e.what());
  }
}

struct RemoteFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;  // hex; empty if the hub gave none (the size is still checked)
};

std::vector<RemoteFile> list_gguf_files(const ModelRef& ref) {
  const std::string url = fmt::format("{}/api/models/{}/{}/tree/main?recursive=true", hub_endpoint(), ref.owner, ref.repo);
  const nlohmann::json listing = get_json(url, fmt::format("model {}/{}", ref.owner, ref.repo));
  PONDER_CHECK(listing.is_array(), "model {}/{}: unexpected file listing from {}", ref.owner, ref.repo, url);
  std::vector<RemoteFile> files;
  for (const auto& entry : listing) {
    if (!entry.is_object() || entry.value("type", "") != "file") continue;
    const std::string path = entry.value("path", "");
    if (path.size() < 5 || lower(path.substr(path.size() - 5)) != ".gguf") continue;
    // File names become cache paths: accept plain names in the repo root only.
    if (path.find('/') != std::string::npos || !valid_name_part(path)) continue;
    RemoteFile f{path, entry.value("size", uint64_t{0}), ""};
    if (auto lfs = entry.find("lfs"); lfs != entry.end() && lfs->is_object()) {
      f.sha256 = lfs->value("oid", "");
      f.size = lfs->value("size", f.size);
    }
    files.push_back(std::move(f));
  }
  return files;
}

// The files of one quant: a single file, or every shard "-0000i-of-0000n" of a split model.
std::vector<RemoteFile> select_quant(const ModelRef& ref, const std::vector<RemoteFile>& files) {
  PONDER_CHECK(!files.empty(), "model {}/{} has no GGUF files", ref.owner, ref.repo);
  std::vector<std::string> wanted;
  if (!ref.quant.empty()) {
    wanted.push_back(lower(ref.quant));
  } else if (files.size() > 1) {
    wanted = {"q4_k_m", "q4_k_s", "q8_0"};  // a good size/quality default first
  }
  for (const std::string& q : wanted) {
    std::vector<RemoteFile> match;
    for (const RemoteFile& f : files) {
      if (lower(f.path).find(q) != std::string::npos) match.push_back(f);
    }
    if (!match.empty()) return match;
  }
  if (wanted.empty()) return files;
  std::string available;
  for (const RemoteFile& f : files) available += (available.empty() ? "" : ", ") + f.path;
  fail("model {}/{} has no GGUF file for quant '{}' (files: {})", ref.owner, ref.repo,
       ref.quant.empty() ? "default" : ref.quant, available);
}

std::string sha256_hex(const fs::path& path) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  PONDER_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "cannot initialise SHA-256");
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &n);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

struct Sink {
  std::FILE* file;
  PullProgress progress;
  const PullOptions* options;
};

size_t write_to_file(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t written = std::fwrite(data, size, n, sink->file) * size;
  sink->progress.done_bytes += written;
  if (sink->options->progress) sink->options->progress(sink->progress);
  return written;
}

// One transfer attempt into `part` from its current size on. False if the transfer broke off
// (the caller retries, resuming); throws for answers that retrying cannot fix.
bool transfer(const std::string& url, const fs::path& part, const RemoteFile& f, const PullOptions& o) {
  const uint64_t offset = fs::exists(part) ? fs::file_size(part) : 0;
  std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(part.c_str(), "ab"), std::fclose);
  PONDER_CHECK(file != nullptr, "cannot write {}", part.string());
  Sink sink{file.get(), PullProgress{f.path, offset, f.size}, &o};
  Curl curl(url);
  curl_easy_setopt(curl.handle, CURLOPT_WRITEFUNCTION, write_to_file);
  curl_easy_setopt(curl.handle, CURLOPT_WRITEDATA, &sink);
  if (offset > 0) curl_easy_setopt(curl.handle, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(offset));
  const CURLcode rc = curl_easy_perform(curl.handle);
  file.reset();
  const long status = curl.status();
  PONDER_CHECK(status != 404, "file {} not found at {} (HTTP 404)", f.path, url);
  if (offset > 0 && status == 200) {  // the server ignored the range: start over
    fs::remove(part);
    return false;
  }
  PONDER_CHECK(rc != CURLE_OK || status == 200 || status == 206, "downloading {}: HTTP {}", url, status);
  return rc == CURLE_OK;
}

void download(const std::string& url, const fs::path& target, const RemoteFile& f, const PullOptions& o) {
  const fs::path part = target.string() + ".part";
  if (fs::exists(part) && fs::file_size(part) > f.size) fs::remove(part);
  bool complete = fs::exists(part) && fs::file_size(part) == f.size && f.size > 0;
  for (int attempt = 0; !complete && attempt < o.max_attempts; ++attempt) {
    complete = transfer(url, part, f, o) && fs::file_size(part) == f.size;
  }
  PONDER_CHECK(complete, "downloading {} failed after {} attempts ({} of {} bytes); run pull again to resume", f.path,
               o.max_attempts, fs::exists(part) ? fs::file_size(part) : 0, f.size);
  if (!f.sha256.empty()) {
    const std::string got = sha256_hex(part);
    if (got != lower(f.sha256)) {
      fs::remove(part);
      fail("{}: SHA-256 {} does not match the hub's {}; the corrupt download was deleted", f.path, got, f.sha256);
    }
  }
  fs::rename(part, target);
}

}  // namespace

std::string ModelRef::name() const { return quant.empty() ? owner + "/" + repo : owner + "/" + repo + ":" + quant; }

std::optional<ModelRef> parse_model_ref(std::string_view spec) {
  static const std::regex shape(R"(^([^/:]+)/([^/:]+)(?::([^/:]+))?$)");
  std::cmatch m;
  if (!std::regex_match(spec.begin(), spec.end(), m, shape)) return std::nullopt;
  ModelRef ref{m[1].str(), m[2].str(), m[3].matched ? m[3].str() : ""};
  if (!valid_name_part(ref.owner) || !valid_name_part(ref.repo)) return std::nullopt;
  if (!ref.quant.empty() && !valid_name_part(ref.quant)) return std::nullopt;
  return ref;
}

std::string ponder_home() {
  if (const char* home = std::getenv("PONDER_HOME"); home != nullptr && *home != '\0') return home;
  const char* user_home = std::getenv("HOME");
  return (fs::path(user_home != nullptr ? user_home : "/tmp") / ".cache" / "ponder").string();
}

std::string models_dir() { return (fs::path(ponder_home()) / "models").string(); }

std::string hub_endpoint() {
  const char* endpoint = std::getenv("PONDER_HF_ENDPOINT");
  std::string url = endpoint != nullptr && *endpoint != '\0' ? endpoint : "https://huggingface.co";
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string default_model_path() { return (fs::path(models_dir()) / kDefaultModelFile).string(); }

std::string pull_model(const ModelRef& ref, const PullOptions& options) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  PONDER_CHECK(curl_ready, "cannot initialise libcurl");
  const std::vector<RemoteFile> files = select_quant(ref, list_gguf_files(ref));
  const fs::path dir = fs::path(models_dir()) / ref.owner / ref.repo;
  fs::create_directories(dir);
  for (const RemoteFile& f : files) {
    const fs::path target = dir / f.path;
    if (fs::exists(target) && fs::file_size(target) == f.size) continue;  // verified when it was renamed
    const std::string url = fmt::format("{}/{}/{}/resolve/main/{}", hub_endpoint(), ref.owner, ref.repo, f.path);
    download(url, target, f, options);
  }
  return (dir / files.front().path).string();
}

std::string resolve_model(std::string_view spec) {
  if (spec.empty() || spec == "default") {
    const std::string path = default_model_path();
    PONDER_CHECK(fs::exists(path), "no model given and the default model is not installed at {}: run scripts/setup.sh",
                 path);
    return path;
  }
  if (fs::exists(fs::path(spec))) return std::string(spec);
  if (const auto ref = parse_model_ref(spec)) {
    const fs::path dir = fs::path(models_dir()) / ref->owner / ref->repo;
    std::vector<fs::path> candidates;
    if (fs::is_directory(dir)) {
      for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = lower(e.path().filename().string());
        if (e.path().extension() == ".gguf" && (ref->quant.empty() || name.find(lower(ref->quant)) != std::string::npos)) {
          candidates.push_back(e.path());
        }
      }
    }
    std::sort(candidates.begin(), candidates.end());
    PONDER_CHECK(!candidates.empty(), "model {} is not in the cache ({}): run `ponder pull {}`", ref->name(),
                 dir.string(), ref->name());
    return candidates.front().string();
  }
  fail("'{}' is neither a file, a folder, nor a model name OWNER/REPO[:QUANT]", spec);
}

std::vector<CachedModel> list_cached_models() {
  std::vector<CachedModel> out;
  const fs::path root = models_dir();
  if (fs::exists(default_model_path())) out.push_back({"default", default_model_path(), fs::file_size(default_model_path())});
  if (!fs::is_directory(root)) return out;
  for (const auto& owner : fs::directory_iterator(root)) {
    if (!owner.is_directory() || owner.path().filename().string().starts_with('.')) continue;
    for (const auto& repo : fs::directory_iterator(owner.path())) {
      if (!repo.is_directory()) continue;
      for (const auto& file : fs::directory_iterator(repo.path())) {
        if (file.path().extension() != ".gguf") continue;
        out.push_back({fmt::format("{}/{}:{}", owner.path().filename().string(), repo.path().filename().string(),
                                   file.path().filename().string()),
                       file.path().string(), file.file_size()});
      }
    }
  }
  std::sort(out.begin() + (out.empty() || out[0].name != "default" ? 0 : 1), out.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.name < b.name; });
  return out;
}

}  // namespace ponder
