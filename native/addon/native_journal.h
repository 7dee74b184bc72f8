// NativeJournal: the JavaScript handle of one volume's UndoJournal (core/undo_journal.h), passed to
// open()/openSync() as `journal` so the file's changes are preserved in it. Also the module
// functions that recover from a journal a crash left behind.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/undo_journal.h"

namespace shieldfs::addon {

class NativeJournal : public Napi::ObjectWrap<NativeJournal> {
 public:
  static Napi::Function Define(Napi::Env env);
  // new NativeJournal(journalPath, baseDirectory, key, context)
  explicit NativeJournal(const Napi::CallbackInfo& info);
  // The journal of a NativeJournal object; null for any other value.
  static std::shared_ptr<UndoJournal> From(Napi::Value value);

 private:
  Napi::Value Begin(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Active(const Napi::CallbackInfo& info);

  std::shared_ptr<UndoJournal> journal_;
};

// journalContext(journalPath, key) -> Buffer | null
Napi::Value JournalContext(const Napi::CallbackInfo& info);
// rollBackJournal(journalPath, baseDirectory, key) -> Buffer (the context)
Napi::Value RollBackJournal(const Napi::CallbackInfo& info);
// discardJournal(journalPath)
Napi::Value DiscardJournal(const Napi::CallbackInfo& info);

}  // namespace shieldfs::addon
