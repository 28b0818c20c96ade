// npuconv report REPORT.json -o OUT.html: convert's report as one self-contained HTML page (no
// script, no network; pipeline/report_html.h). `convert --report-html` writes the same page.
#include <cstdio>

#include "cli/commands.h"
#include "pipeline/report_html.h"

namespace npuconv {

void addReportCommand(CLI::App& app, CommandAction& action) {
  auto* cmd = app.add_subcommand("report", "Render convert's report.json as one self-contained HTML page (charts, no script)");
  struct Options {
    std::string report, out;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("report", o->report, "convert's report.json")->required();
  cmd->add_option("-o,--output", o->out, "The HTML page to write (atomically)")->required();
  cmd->callback([&action, o] {
    action = [o]() -> int {
      if (Status s = writeReportHtml(o->report, o->out); !s.isOk()) return reportError(s);
      return 0;
    };
  });
}

}  // namespace npuconv
