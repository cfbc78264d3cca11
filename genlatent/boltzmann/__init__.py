"""Boltzmann-machine machinery shared by the RBM, DBN and DBM families.

`energy` (energies, free energies, conditionals), `gibbs` (block Gibbs sampling),
`contrastive` (CD/PCD, base rates, pseudo-likelihood) and `partition` (log Z by
enumeration or AIS, and the `Normaliser` a family exposes to the estimators);
`module` holds `RBM`, the same machinery as a Linen module.
"""

from genlatent.boltzmann.energy import (init_params, is_gaussian, num_units, hidden_input,
                                        visible_input, visible_term, energy, free_energy,
                                        hidden_free_energy, hidden_probs, visible_mean, LOG_2,
                                        LOG_2PI, VISIBLE_TYPES)
from genlatent.boltzmann.gibbs import (uniform_noise, normal_noise, bernoulli, sample_hidden,
                                       sample_visible, gibbs_step, gibbs_chain, gibbs_snapshots,
                                       base_samples)
from genlatent.boltzmann.contrastive import (contrastive_divergence, training_phase,
                                             update_base_rate, rate_logits, pseudo_log_likelihood,
                                             apply_gradients, base_rate_logits,
                                             initial_chains, TRAINING)
from genlatent.boltzmann.partition import (annealing_path, exact_log_partition_supported,
                                           exact_log_partition, ais_log_partition, ais_base_of,
                                           fitted_base_bias, AIS_BASES, Normaliser)
from genlatent.boltzmann.module import RBM
