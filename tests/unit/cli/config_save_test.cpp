// Unit tests for `mpt save`'s file rewriting (cli/config_save.*).
#include "cli/config_save.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using mpt::cli::ConnectionSave;
using mpt::cli::IniUpdate;
using mpt::cli::PathRuntime;
using mpt::cli::plan_connection_save;
using mpt::cli::rewrite_ini;
using mpt::cli::write_file_atomically;

namespace {

// A connection file with the comments, spacing and extras operators write.
const std::string kFile =
    "; site A to site B\n"
    "[connection]\n"
    "name = it            ; the connection\n"
    "ip_ver = 4\n"
    "ip_local = 10.201.0.1\n"
    "ip_remote = 10.201.0.2\n"
    "path_count = 2\n"
    "control_auth = none\n"
    "\n"
    "# first uplink\n"
    "[path_0]\n"
    "  interface_name = veth0\n"
    "  ip_ver = 4\n"
    "  private_ipaddr = 10.200.1.1\n"
    "  remote_ipaddr = 10.200.1.2\n"
    "  weight_out = 3\t# a third of it\n"
    "  ; a comment at the end of the section\n"
    "\n"
    "[path_1]\n"
    "interface_name=veth1\n"
    "ip_ver=4\n"
    "private_ipaddr=10.200.2.1\n"
    "remote_ipaddr=10.200.2.2\n"
    "status = 0 ; up at start\n"
    "# trailing comment\n";

mpt::config::ConnectionConfig parsed(const std::string& text) {
  std::vector<mpt::config::Diagnostic> diags;
  auto c = mpt::config::parse_connection_conf(text, "it.conf", diags);
  for (const auto& d : diags) {
    INFO(d.to_string());
    REQUIRE(d.severity != mpt::config::Diagnostic::Severity::kError);
  }
  return c;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("config save: an existing key gets the new value, the rest stays byte for byte") {
  const auto r = rewrite_ini(kFile, {{"path_0", "weight_out", "7"}, {"path_1", "status", "128"}});
  CHECK(r.missing_sections.empty());
  std::string want = kFile;
  want.replace(want.find("weight_out = 3\t#"), 14, "weight_out = 7");
  want.replace(want.find("status = 0 ;"), 10, "status = 128");
  CHECK(r.text == want);
  // The result loads, with the new values and everything else as before.
  const auto before = parsed(kFile);
  const auto after = parsed(r.text);
  CHECK(after.paths.at(0).weight_out == 7);
  CHECK(after.paths.at(1).status == 128);
  CHECK(after.paths.at(1).weight_out == before.paths.at(1).weight_out);
  CHECK(after.name == "it");
}

TEST_CASE("config save: a missing key is inserted after the section's last key line") {
  const auto r = rewrite_ini(kFile, {{"path_0", "status", "128"}, {"path_1", "weight_out", "5"}});
  CHECK(r.missing_sections.empty());
  std::string want = kFile;
  // path_0: after its last key, with its indentation, before the comment that ends it.
  want.insert(want.find("  ; a comment at the end"), "  status = 128\n");
  // path_1: after "status = 0 ; up at start", with its spacing, before the trailing comment.
  want.insert(want.find("# trailing comment"), "weight_out = 5\n");
  CHECK(r.text == want);
  const auto after = parsed(r.text);
  CHECK(after.paths.at(0).status == 128);
  CHECK(after.paths.at(0).weight_out == 3);
  CHECK(after.paths.at(1).weight_out == 5);
}

TEST_CASE("config save: an inserted key copies the spacing around '=' of the line before") {
  CHECK(rewrite_ini("[a]\n\tx=1 ;c\n", {{"a", "y", "2"}}).text == "[a]\n\tx=1 ;c\n\ty=2\n");
  CHECK(rewrite_ini("[a]\nx =  1\n", {{"a", "y", "2"}}).text == "[a]\nx =  1\ny =  2\n");
}

TEST_CASE("config save: sections and keys match without regard to case; quotes are replaced") {
  const std::string text = "[Path_0]\nWeight_Out = \"4\" # quoted\n";
  const auto r = rewrite_ini(text, {{"path_0", "weight_out", "9"}});
  CHECK(r.text == "[Path_0]\nWeight_Out = 9 # quoted\n");
}

TEST_CASE("config save: CRLF files keep their line ends, also on inserted lines") {
  const std::string text =
      "\xEF\xBB\xBF[connection]\r\nname = it\r\n[path_0]\r\ninterface_name = eth0\r\n"
      "weight_out = 1 ; w\r\n\r\n; end\r\n";
  const auto r = rewrite_ini(text, {{"path_0", "weight_out", "2"}, {"path_0", "status", "128"}});
  CHECK(r.text ==
        "\xEF\xBB\xBF[connection]\r\nname = it\r\n[path_0]\r\ninterface_name = eth0\r\n"
        "weight_out = 2 ; w\r\nstatus = 128\r\n\r\n; end\r\n");
  // A key in the first line, after the BOM.
  const auto first = rewrite_ini("\xEF\xBB\xBF[a]\r\nk = 1\r\n", {{"a", "k", "22"}});
  CHECK(first.text == "\xEF\xBB\xBF[a]\r\nk = 22\r\n");
}

TEST_CASE("config save: a file without a final newline keeps having none") {
  CHECK(rewrite_ini("[path_0]\nweight_out = 1", {{"path_0", "weight_out", "6"}}).text ==
        "[path_0]\nweight_out = 6");
  CHECK(rewrite_ini("[path_0]\nweight_out = 1", {{"path_0", "status", "128"}}).text ==
        "[path_0]\nweight_out = 1\nstatus = 128");
  CHECK(rewrite_ini("[path_0]\r\nweight_out = 1", {{"path_0", "status", "128"}}).text ==
        "[path_0]\r\nweight_out = 1\r\nstatus = 128");
  // A section without keys: right after its header.
  CHECK(rewrite_ini("[path_0] ; empty\n; nothing\n", {{"path_0", "status", "0"}}).text ==
        "[path_0] ; empty\nstatus = 0\n; nothing\n");
}

TEST_CASE("config save: an absent section is reported and nothing is added") {
  const auto r = rewrite_ini(kFile, {{"path_5", "weight_out", "2"}, {"path_0", "weight_out", "3"},
                                     {"path_5", "status", "128"}});
  REQUIRE(r.missing_sections == std::vector<std::string>{"path_5"});
  CHECK(r.text == kFile);
  CHECK(rewrite_ini("", {{"a", "b", "c"}}).missing_sections.size() == 1);
}

TEST_CASE("config save: only the first section and key count, as the loader reads them") {
  // Keys before any section, duplicate sections and keys, and malformed lines stay untouched.
  const std::string text =
      "weight_out = 1\n[path_0]\nweight_out = 1\nweight_out = 2\n[path_0]\nweight_out = 3\n"
      "junk line\n";
  const auto r = rewrite_ini(text, {{"path_0", "weight_out", "8"}});
  CHECK(r.text ==
        "weight_out = 1\n[path_0]\nweight_out = 8\nweight_out = 2\n[path_0]\nweight_out = 3\n"
        "junk line\n");
}

TEST_CASE("config save: empty values, comments right after '=' and values that need quotes") {
  CHECK(rewrite_ini("[a]\nk =\n", {{"a", "k", "1"}}).text == "[a]\nk = 1\n");
  CHECK(rewrite_ini("[a]\nk = ;c\n", {{"a", "k", "1"}}).text == "[a]\nk = 1 ;c\n");
  CHECK(rewrite_ini("[a]\nk = x\n", {{"a", "k", "two words"}}).text == "[a]\nk = two words\n");
  CHECK(rewrite_ini("[a]\nk = x\n", {{"a", "k", " padded"}}).text == "[a]\nk = \" padded\"\n");
  CHECK(rewrite_ini("[a]\nk = x\n", {{"a", "k", "53;123"}}).text == "[a]\nk = \"53;123\"\n");
}

TEST_CASE("config save: plan writes only what differs from the file") {
  const auto running = parsed(kFile);
  // Runtime equal to the file (path_1 has no weight_out: the default 1): nothing changes.
  ConnectionSave same = plan_connection_save(kFile, "it.conf", running,
                                             {PathRuntime{3, false}, PathRuntime{1, false}});
  CHECK(same.error.empty());
  CHECK_FALSE(same.changed);
  CHECK(same.text == kFile);
  CHECK(same.changes.empty());

  ConnectionSave s = plan_connection_save(kFile, "it.conf", running,
                                          {PathRuntime{3, true}, PathRuntime{7, false}});
  REQUIRE(s.error.empty());
  CHECK(s.changed);
  CHECK(s.changes ==
        std::vector<std::string>{"path_0 status 0 -> 128", "path_1 weight_out 1 -> 7"});
  const auto after = parsed(s.text);
  CHECK(after.paths.at(0).status == 128);
  CHECK(after.paths.at(0).weight_out == 3);
  CHECK(after.paths.at(1).weight_out == 7);
  CHECK(after.paths.at(1).status == 0);
  // Saved again: a fixed point.
  ConnectionSave again = plan_connection_save(s.text, "it.conf", after,
                                              {PathRuntime{3, true}, PathRuntime{7, false}});
  CHECK_FALSE(again.changed);

  // A path with no runtime state is left as it is.
  ConnectionSave partial =
      plan_connection_save(kFile, "it.conf", running, {std::nullopt, PathRuntime{1, true}});
  CHECK(partial.changes == std::vector<std::string>{"path_1 status 0 -> 128"});
}

TEST_CASE("config save: a file edited since it was loaded, or broken, is left alone") {
  const auto running = parsed(kFile);
  const std::vector<std::optional<PathRuntime>> rt = {PathRuntime{9, false}, PathRuntime{9, false}};
  std::string moved = kFile;
  moved.replace(moved.find("interface_name=veth1"), 20, "interface_name=veth7");
  ConnectionSave a = plan_connection_save(moved, "it.conf", running, rt);
  CHECK_FALSE(a.changed);
  CHECK(a.error.find("path_1") != std::string::npos);
  CHECK(a.error.find("mpt reload") != std::string::npos);

  std::string broken = kFile;
  broken.insert(broken.find("[path_0]"), "reorder_window = banana\n");
  ConnectionSave b = plan_connection_save(broken, "it.conf", running, rt);
  CHECK_FALSE(b.changed);
  CHECK(b.error.find("reorder_window") != std::string::npos);

  std::string fewer = kFile.substr(0, kFile.find("[path_1]"));
  fewer.replace(fewer.find("path_count = 2"), 14, "path_count = 1");
  ConnectionSave c = plan_connection_save(fewer, "it.conf", running, rt);
  CHECK_FALSE(c.changed);
  CHECK(c.error.find("1 path(s)") != std::string::npos);
}

TEST_CASE("config save: files are replaced atomically, keeping their mode and links") {
  namespace fs = std::filesystem;
  char dir_template[] = "/tmp/mpt-config-save.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const fs::path dir = dir_template;
  const fs::path file = dir / "it.conf";
  {
    std::ofstream(file) << "old\n";
  }
  ::chmod(file.c_str(), 0640);
  CHECK(write_file_atomically(file.string(), "new\r\ntext") == "");
  CHECK(slurp(file.string()) == "new\r\ntext");
  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  // Through a symbolic link: the target changes, the link stays a link.
  const fs::path link = dir / "link.conf";
  fs::create_symlink(file, link);
  CHECK(write_file_atomically(link.string(), "via link\n") == "");
  CHECK(fs::is_symlink(link));
  CHECK(slurp(file.string()) == "via link\n");
  // No temporary file is left behind.
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 2);
  // A file that does not exist is an error, not created.
  CHECK_FALSE(write_file_atomically((dir / "absent.conf").string(), "x").empty());
  CHECK_FALSE(fs::exists(dir / "absent.conf"));
  fs::remove_all(dir);
}
