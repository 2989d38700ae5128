'use strict';
// scheduler.js — seed 004, the Prioritized Task Scheduling API, with
// errand's loop as the executor: postTask() posts an errand loop task, and
// errand decides when its callback runs on the JS thread (strict priority
// order, FIFO inside a level, delays on errand's timer, a TaskSignal's
// priority followed while queued, abort = errand cancellation).
//
//   scheduler.postTask(cb, { priority, delay, signal }) -> Promise
//   scheduler.yield() -> Promise
//   new TaskController({ priority }) with setPriority(), signal.priority,
//   'prioritychange' events (event.previousPriority), abort(reason)
//
// A TaskController is an AbortController whose signal also has a priority
// (so `signal instanceof AbortSignal` holds, as for the spec's TaskSignal).

const { addon, track, untrack, PRIORITIES, PRIORITY_NAMES, STATUS } = require('./native');
const { taskSignals, controllerFor, checkSignal, reasonText } = require('./signals');

function checkPriority(p, what) {
  if (PRIORITIES[p] === undefined)
    throw new TypeError(
      `${what}: '${String(p)}' is not a valid TaskPriority ` +
        "('user-blocking', 'user-visible' or 'background')");
  return p;
}

class TaskPriorityChangeEvent extends Event {
  #previousPriority;
  constructor(type, init) {
    if (!init || init.previousPriority === undefined)
      throw new TypeError("TaskPriorityChangeEvent: init.previousPriority is required");
    super(type, init);
    this.#previousPriority = checkPriority(init.previousPriority, 'TaskPriorityChangeEvent');
  }
  get previousPriority() {
    return this.#previousPriority;
  }
}

// TaskSignal: the signals of TaskControllers (an AbortSignal with a
// priority).  Not constructible, as in the spec; `instanceof` works.
class TaskSignal extends AbortSignal {
  constructor() {
    // eslint-disable-next-line constructor-super
    throw new TypeError('Illegal constructor');
  }
  static [Symbol.hasInstance](v) {
    return taskSignals.has(v);
  }
}

class TaskController extends AbortController {
  constructor(init = {}) {
    super();
    if (init === null || typeof init !== 'object')
      throw new TypeError('TaskController: init must be an object');
    const priority =
      init.priority === undefined ? 'user-visible' : checkPriority(init.priority, 'TaskController');
    const native = addon.controllerCreate(PRIORITIES[priority]);
    const signal = this.signal;
    const state = { native, priority, changing: false, handler: null };
    taskSignals.set(signal, state);
    Object.defineProperties(signal, {
      priority: {
        get: () => state.priority,
        enumerable: true,
        configurable: true,
      },
      onprioritychange: {
        get: () => state.handler,
        set: (fn) => {
          if (state.handler) signal.removeEventListener('prioritychange', state.handler);
          state.handler = typeof fn === 'function' ? fn : null;
          if (state.handler) signal.addEventListener('prioritychange', state.handler);
        },
        enumerable: true,
        configurable: true,
      },
    });
    // First listener: errand cancels the bound tasks before user listeners run.
    signal.addEventListener('abort', () => addon.controllerAbort(native, reasonText(signal.reason)), {
      once: true,
    });
  }

  // Changes the priority of the signal and of every task still queued with
  // it; fires 'prioritychange' (with previousPriority) on the signal.
  setPriority(priority) {
    checkPriority(priority, 'setPriority');
    const state = taskSignals.get(this.signal);
    if (state.changing)
      throw new DOMException('setPriority() called from a prioritychange handler', 'NotAllowedError');
    if (state.priority === priority) return;
    state.changing = true;
    try {
      const previous = state.priority;
      // errand moves the queued tasks and reports the change (synchronously).
      const change = addon.controllerSetPriority(state.native, PRIORITIES[priority]);
      state.priority = priority;
      const prev = change ? PRIORITY_NAMES[change[0]] : previous;
      this.signal.dispatchEvent(new TaskPriorityChangeEvent('prioritychange', { previousPriority: prev }));
    } finally {
      state.changing = false;
    }
  }
}

let currentPriority = null; // of the postTask callback running now

function postTask(callback, options = {}) {
  if (typeof callback !== 'function')
    return Promise.reject(new TypeError('postTask: callback must be a function'));
  if (options === null || typeof options !== 'object')
    return Promise.reject(new TypeError('postTask: options must be an object'));
  let priority = 0;
  let controller = null;
  let signal = null;
  let fixed = null;
  try {
    if (options.priority !== undefined) {
      fixed = checkPriority(options.priority, 'postTask');
      priority = PRIORITIES[fixed];
    }
    if (options.signal !== undefined && options.signal !== null) {
      signal = options.signal;
      checkSignal(signal);
    }
    var delay = options.delay === undefined ? 0 : Number(options.delay);
    if (Number.isNaN(delay)) throw new TypeError('postTask: options.delay must be a number');
    delay = delay > 0 ? Math.floor(delay) : 0;
  } catch (e) {
    return Promise.reject(e);
  }
  if (signal && signal.aborted) return Promise.reject(signal.reason);
  if (signal) controller = controllerFor(signal);
  return new Promise((resolve, reject) => {
    let ran = false;
    let value;
    let error;
    const key = track({
      run() {
        ran = true;
        const saved = currentPriority;
        currentPriority = fixed || (signal && taskSignals.has(signal)
          ? taskSignals.get(signal).priority : 'user-visible');
        try {
          value = callback();
          return true;
        } catch (e) {
          error = e;
          return false;
        } finally {
          currentPriority = saved;
        }
      },
      done(status, json, code, message) {
        if (status === STATUS.RAN_TO_COMPLETION) resolve(value);
        else if (ran && status === STATUS.FAULTED) reject(error);
        else if (signal && signal.aborted) reject(signal.reason);
        else reject(new DOMException(message || 'the task was canceled', 'AbortError'));
      },
    });
    try {
      addon.loopPost(key, priority, delay, controller);
    } catch (e) {
      untrack(key);
      reject(e);
    }
  });
}

// Resolves on the JS thread after the tasks already queued at a higher or
// the same priority ran (a continuation posted at the priority of the task
// that yields, user-visible outside a task).
function yieldTask() {
  return postTask(() => undefined, { priority: currentPriority || 'user-visible' });
}

const scheduler = Object.freeze({ postTask, yield: yieldTask });

// Installs scheduler, TaskController, TaskSignal and TaskPriorityChangeEvent
// on globalThis where they are missing (Node has none of them).
function polyfill(target = globalThis) {
  const defs = { scheduler, TaskController, TaskSignal, TaskPriorityChangeEvent };
  for (const [k, v] of Object.entries(defs))
    if (!(k in target))
      Object.defineProperty(target, k, { value: v, writable: true, configurable: true });
  return target;
}

module.exports = { scheduler, TaskController, TaskSignal, TaskPriorityChangeEvent, polyfill };
