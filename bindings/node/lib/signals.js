'use strict';
// signals.js — errand controllers behind AbortSignals.
//
// A TaskController's signal carries its own errand controller.  Any other
// AbortSignal (Node's AbortController, AbortSignal.timeout(), ...) gets one
// errand controller the first time it is used, aborted from the signal's
// 'abort' event, so every errand task bound to the signal is canceled by
// errand (a queued one never runs).

const { addon } = require('./native');

// signal -> { native, priority (name) | null, changing }
const taskSignals = new WeakMap();
// plain AbortSignal -> native controller
const plainSignals = new WeakMap();

function reasonText(reason) {
  if (reason === undefined) return 'aborted';
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  try {
    return String(reason);
  } catch {
    return 'aborted';
  }
}

function checkSignal(signal, what = 'options.signal') {
  if (!(signal instanceof AbortSignal))
    throw new TypeError(`${what} must be an AbortSignal or a TaskSignal`);
}

// The errand controller handle for an AbortSignal (created on first use).
function controllerFor(signal) {
  const ts = taskSignals.get(signal);
  if (ts) return ts.native;
  let native = plainSignals.get(signal);
  if (!native) {
    native = addon.controllerCreate(0);
    plainSignals.set(signal, native);
    if (signal.aborted) addon.controllerAbort(native, reasonText(signal.reason));
    else
      signal.addEventListener(
        'abort',
        () => addon.controllerAbort(native, reasonText(signal.reason)),
        { once: true });
  }
  return native;
}

module.exports = { taskSignals, controllerFor, checkSignal, reasonText };
