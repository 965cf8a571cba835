// Passes over a parsed template that reproduce decisions Jinja2 makes when it compiles one.
//
// check_unknown_names: an unknown filter or test is an error at parse time, except in a "soft"
// frame (the condition and bodies of an {% if %}, the parts of an inline if), where Jinja2 3 only
// fails if the expression runs.
//
// analyze_scopes: Jinja2 resolves names per frame (the top level, a loop body, a macro, a with or
// set/filter block) when it compiles. A name that a frame assigns unconditionally before it reads
// it is local to that frame from the frame's start, so a loop or macro that runs earlier and reads
// the name sees undefined, not the outer or context value:
//   {% for m in messages %}{{ x }}{% endfor %}{% set x = 1 %}   -> the loop prints "" for x.
// This pass lists those names per frame; the renderer starts each frame with them undefined.
//
// Cost: one walk over the tree; each frame keeps a short list of names.
#pragma once

#include "text/jinja_ast.h"

namespace ponder::jinja {

void check_unknown_names(const Template& t);
void analyze_scopes(Template& t);

}  // namespace ponder::jinja
