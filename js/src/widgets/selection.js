// Selection: a model without a view. Its front-end part relays the current pixel and the
// selected pixels between the views tied to it (see ../lib/relay.js); the kernel lists those
// views in `_relay` as {model: "IPY_MODEL_<id>", pixel: trait | null, indices: trait | null}.
import { relay } from "../lib/relay.js";

const REF = "IPY_MODEL_";

export default {
  initialize({ model }) {
    let untie = () => {};
    let generation = 0;
    async function rewire() {
      const gen = ++generation;
      const specs = model.get("_relay") || [];
      let views;
      try {
        views = await Promise.all(specs.map((s) =>
          model.widget_manager.get_model(String(s.model).replace(REF, ""))));
      } catch (err) {
        console.warn("eelswidgets: a view tied to the selection is gone", err);
        return;
      }
      if (gen !== generation) return; // a newer list arrived meanwhile
      untie();
      untie = relay(model, specs.map((s, i) => ({
        model: views[i], pixel: s.pixel || null, indices: s.indices || null,
      })));
    }
    model.on("change:_relay", rewire);
    rewire();
    return () => {
      generation++;
      untie();
      model.off("change:_relay", rewire);
    };
  },
};
