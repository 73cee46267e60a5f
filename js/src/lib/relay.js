// The front-end relay between a Selection model (the hub) and the views tied to it.
//
// A click on a view sets the view's trait; the relay copies the value to the hub, sends the hub
// to the kernel (its Python observers compute the spectrum the user waits for, and copy the
// value into the Python side of every tied view without a message), then copies it to every
// other tied view in the browser. So a click costs one kernel message whatever the number of
// views. ipywidgets' jslink would send every linked view to the kernel, the others before the
// hub (a link saves its target inside the change event), and the spectrum waited behind them.
// A change of the hub (from Python, or from another view) reaches every view.
//
// Models need get/set/on/off/save_changes (ipywidgets models, or anywidget's proxies).

/** Hub traits a view can be tied by. */
export const HUB_TRAITS = ["pixel", "indices"];

/**
 * Relay the hub's traits between `hub` and `entries` ({model, pixel?, indices?}: the view's
 * trait tied to each hub trait, or null). Returns a function that unties everything.
 */
export function relay(hub, entries) {
  let busy = false;
  const cleanups = [];

  function copyTo(hubTrait, value, except) {
    for (const e of entries) {
      const trait = e[hubTrait];
      if (trait && e.model !== except) e.model.set(trait, value);
    }
  }

  function guarded(fn) {
    return () => {
      if (busy) return; // a change made by the relay itself
      busy = true;
      try {
        fn();
      } finally {
        busy = false;
      }
    };
  }

  for (const hubTrait of HUB_TRAITS) {
    const onHub = guarded(() => copyTo(hubTrait, hub.get(hubTrait), null));
    hub.on(`change:${hubTrait}`, onHub);
    cleanups.push(() => hub.off(`change:${hubTrait}`, onHub));
    for (const e of entries) {
      const trait = e[hubTrait];
      if (!trait) continue;
      const onView = guarded(() => {
        const value = e.model.get(trait);
        hub.set(hubTrait, value);
        hub.save_changes();
        copyTo(hubTrait, value, e.model);
      });
      e.model.on(`change:${trait}`, onView);
      cleanups.push(() => e.model.off(`change:${trait}`, onView));
    }
  }
  return () => {
    for (const c of cleanups) c();
    cleanups.length = 0;
  };
}
