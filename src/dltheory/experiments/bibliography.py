"""Every key paper of the course (../shared/COURSE.md), with the experiment that reproduces it.

``status(key)`` says whether that experiment is implemented (registered) or planned.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    key: str
    authors: str
    year: int
    title: str
    venue: str
    lecture: int
    experiment: str | None  # None: reference only (no experiment)
    also: tuple[str, ...] = ()  # further experiments reproducing other results of the same paper

    @property
    def experiments(self) -> tuple[str, ...]:
        """Every experiment reproducing this paper (``experiment`` first, then ``also``)."""
        return ((self.experiment,) if self.experiment else ()) + self.also

    @property
    def short(self) -> str:
        names = [a.strip().split()[-1] for a in self.authors.split(",")]
        if len(names) == 1:
            return f"{names[0]} {self.year}"
        if len(names) == 2:
            return f"{names[0]} & {names[1]} {self.year}"
        return f"{names[0]} et al. {self.year}"

    @property
    def citation(self) -> str:
        return f"{self.authors} ({self.year}). {self.title}. {self.venue}."


_P = Paper
_ENTRIES: list[Paper] = [
    # Lecture 1: introduction
    _P("hornik1989", "Kurt Hornik, Maxwell Stinchcombe, Halbert White", 1989, "Multilayer feedforward networks are universal approximators", "Neural Networks 2(5):359-366", 1, "intro/universal-approximation"),
    _P("telgarsky2016", "Matus Telgarsky", 2016, "Benefits of depth in neural networks", "COLT 2016", 1, "intro/depth-separation"),
    _P("eldan2016", "Ronen Eldan, Ohad Shamir", 2016, "The power of depth for feedforward neural networks", "COLT 2016", 1, "intro/depth-separation"),
    _P("ruder2016", "Sebastian Ruder", 2016, "An overview of gradient descent optimization algorithms", "arXiv:1609.04747", 1, "intro/optimizers"),
    _P("kramer1991", "Mark A. Kramer", 1991, "Nonlinear principal component analysis using autoassociative neural networks", "AIChE Journal 37(2):233-243", 1, "intro/nonlinear-pca"),
    _P("he2016", "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun", 2016, "Deep residual learning for image recognition", "CVPR 2016", 1, "intro/residual-trainability"),
    _P("lawrence1997", "Steve Lawrence, C. Lee Giles, Ah Chung Tsoi, Andrew D. Back", 1997, "Face recognition: a convolutional neural-network approach", "IEEE Transactions on Neural Networks 8(1):98-113", 1, "intro/convolution-prior"),
    _P("vaswani2017", "Ashish Vaswani, Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez, Lukasz Kaiser, Illia Polosukhin", 2017, "Attention is all you need", "NeurIPS 2017", 1, "intro/attention"),
    _P("ledig2017", "Christian Ledig, Lucas Theis, Ferenc Huszar, Jose Caballero, Andrew Cunningham, Alejandro Acosta, Andrew Aitken, Alykhan Tejani, Johannes Totz, Zehan Wang, Wenzhe Shi", 2017, "Photo-realistic single image super-resolution using a generative adversarial network", "CVPR 2017", 1, "intro/super-resolution"),
    _P("goodfellow2016", "Ian Goodfellow, Yoshua Bengio, Aaron Courville", 2016, "Deep Learning", "MIT Press", 1, None),
    # Lecture 2: algorithmic regularization
    _P("soudry2018", "Daniel Soudry, Elad Hoffer, Mor Shpigel Nacson, Suriya Gunasekar, Nathan Srebro", 2018, "The implicit bias of gradient descent on separable data", "JMLR 19(70):1-57", 2, "implicit-bias/separable-logistic"),
    _P("gunasekar2018geometry", "Suriya Gunasekar, Jason Lee, Daniel Soudry, Nathan Srebro", 2018, "Characterizing implicit bias in terms of optimization geometry", "ICML 2018", 2, "implicit-bias/steepest-descent-geometry"),
    _P("gunasekar2017", "Suriya Gunasekar, Blake Woodworth, Srinadh Bhojanapalli, Behnam Neyshabur, Nathan Srebro", 2017, "Implicit regularization in matrix factorization", "NeurIPS 2017", 2, "implicit-bias/matrix-sensing"),
    _P("arora2019", "Sanjeev Arora, Nadav Cohen, Wei Hu, Yuping Luo", 2019, "Implicit regularization in deep matrix factorization", "NeurIPS 2019", 2, "implicit-bias/deep-matrix-factorization"),
    _P("razin2020", "Noam Razin, Nadav Cohen", 2020, "Implicit regularization in deep learning may not be explainable by norms", "NeurIPS 2020", 2, "implicit-bias/matrix-sensing"),
    _P("li2021", "Zhiyuan Li, Yuping Luo, Kaifeng Lyu", 2021, "Towards resolving the implicit bias of gradient descent for matrix factorization: greedy low-rank learning", "ICLR 2021", 2, "implicit-bias/matrix-sensing"),
    _P("cohen2021", "Jeremy Cohen, Simran Kaur, Yuanzhi Li, J. Zico Kolter, Ameet Talwalkar", 2021, "Gradient descent on neural networks typically occurs at the edge of stability", "ICLR 2021", 2, "edge-of-stability/progressive-sharpening"),
    _P("arora2022", "Sanjeev Arora, Zhiyuan Li, Abhishek Panigrahi", 2022, "Understanding gradient descent on the edge of stability in deep learning", "ICML 2022", 2, "edge-of-stability/sharpness-reduction"),
    _P("byrd2019", "Jonathon Byrd, Zachary C. Lipton", 2019, "What is the effect of importance weighting in deep learning?", "ICML 2019", 2, "implicit-bias/importance-weighting"),
    _P("xu2021", "Da Xu, Yuting Ye, Chuanwei Ruan", 2021, "Understanding the role of importance weighting for deep learning", "ICLR 2021", 2, "implicit-bias/importance-weighting"),
    _P("wu2023", "Lei Wu, Weijie J. Su", 2023, "The implicit regularization of dynamical stability in stochastic gradient descent", "ICML 2023", 2, "implicit-bias/sgd-linear-stability"),
    _P("woodworth2020", "Blake Woodworth, Suriya Gunasekar, Jason D. Lee, Edward Moroshko, Pedro Savarese, Itay Golan, Daniel Soudry, Nathan Srebro", 2020, "Kernel and rich regimes in overparametrized models", "COLT 2020", 2, "implicit-bias/kernel-rich-regimes"),
    # Lecture 3: dropout
    _P("baldi1989", "Pierre Baldi, Kurt Hornik", 1989, "Neural networks and principal component analysis: learning from examples without local minima", "Neural Networks 2(1):53-58", 3, "dropout/linear-autoencoder"),
    _P("srivastava2014", "Nitish Srivastava, Geoffrey Hinton, Alex Krizhevsky, Ilya Sutskever, Ruslan Salakhutdinov", 2014, "Dropout: a simple way to prevent neural networks from overfitting", "JMLR 15(56):1929-1958", 3, "dropout/linear-regression", ("dropout/generalization",)),
    _P("mianjy2018", "Poorya Mianjy, Raman Arora, Rene Vidal", 2018, "On the implicit bias of dropout", "ICML 2018", 3, "dropout/matrix-factorization"),
    _P("arora2021dropout", "Raman Arora, Peter Bartlett, Poorya Mianjy, Nathan Srebro", 2021, "Dropout: explicit forms and capacity control", "ICML 2021", 3, "dropout/explicit-regularizer"),
    _P("xu2024", "Zhi-Qin John Xu, Yaoyu Zhang, Tao Luo", 2024, "Overview frequency principle/spectral bias in deep learning", "Communications on Applied Mathematics and Computation", 3, "dropout/frequency-principle"),
    _P("zhou2022", "Hanxu Zhou, Qixuan Zhou, Tao Luo, Yaoyu Zhang, Zhi-Qin John Xu", 2022, "Towards understanding the condensation of neural networks at initial training", "NeurIPS 2022", 3, "dropout/condensation"),
    _P("caruana2001", "Rich Caruana, Steve Lawrence, C. Lee Giles", 2001, "Overfitting in neural nets: backpropagation, conjugate gradient, and early stopping", "NeurIPS 2000 (NIPS 13)", 3, "dropout/early-stopping"),
    _P("zhang2017", "Chiyuan Zhang, Samy Bengio, Moritz Hardt, Benjamin Recht, Oriol Vinyals", 2017, "Understanding deep learning requires rethinking generalization", "ICLR 2017", 3, "generalization/random-labels"),
    _P("arpit2017", "Devansh Arpit, Stanislaw Jastrzebski, Nicolas Ballas, David Krueger, Emmanuel Bengio, Maxinder S. Kanwal, Tegan Maharaj, Asja Fischer, Aaron Courville, Yoshua Bengio, Simon Lacoste-Julien", 2017, "A closer look at memorization in deep networks", "ICML 2017", 3, "generalization/random-labels"),
    _P("bartlett2017", "Peter L. Bartlett, Dylan J. Foster, Matus Telgarsky", 2017, "Spectrally-normalized margin bounds for neural networks", "NeurIPS 2017", 3, "generalization/spectral-margin-bounds"),
    _P("belkin2019", "Mikhail Belkin, Daniel Hsu, Siyuan Ma, Soumik Mandal", 2019, "Reconciling modern machine-learning practice and the classical bias-variance trade-off", "PNAS 116(32):15849-15854", 3, "generalization/double-descent"),
    _P("nakkiran2020", "Preetum Nakkiran, Gal Kaplun, Yamini Bansal, Tristan Yang, Boaz Barak, Ilya Sutskever", 2020, "Deep double descent: where bigger models and more data hurt", "ICLR 2020", 3, "generalization/double-descent"),
    _P("martin2021", "Charles H. Martin, Michael W. Mahoney", 2021, "Implicit self-regularization in deep neural networks: evidence from random matrix theory and implications for learning", "JMLR 22(165):1-73", 3, "weights/heavy-tailed-spectra"),
    _P("serra2018", "Thiago Serra, Christian Tjandraatmadja, Srikumar Ramalingam", 2018, "Bounding and counting linear regions of deep neural networks", "ICML 2018", 1, "expressivity/linear-regions"),
    _P("hanin2019", "Boris Hanin, David Rolnick", 2019, "Deep ReLU networks have surprisingly few activation patterns", "NeurIPS 2019", 1, "expressivity/linear-regions"),
    # Lecture 4: landscapes
    _P("ge2016", "Rong Ge, Jason D. Lee, Tengyu Ma", 2016, "Matrix completion has no spurious local minimum", "NeurIPS 2016", 4, "landscape/matrix-completion"),
    _P("ge2017", "Rong Ge, Jason D. Lee, Tengyu Ma", 2017, "Learning one-hidden-layer neural networks with landscape design", "ICLR 2018 (arXiv:1711.00501)", 4, "landscape/one-hidden-layer-design"),
    _P("li2018", "Hao Li, Zheng Xu, Gavin Taylor, Christoph Studer, Tom Goldstein", 2018, "Visualizing the loss landscape of neural nets", "NeurIPS 2018", 4, "landscape/filter-normalization"),
    _P("sagun2017", "Levent Sagun, Utku Evci, V. Ugur Guney, Yann Dauphin, Leon Bottou", 2017, "Empirical analysis of the Hessian of over-parametrized neural networks", "ICLR 2018 workshop (arXiv:1706.04454)", 4, "landscape/hessian-spectrum"),
    _P("ghorbani2019", "Behrooz Ghorbani, Shankar Krishnan, Ying Xiao", 2019, "An investigation into neural net optimization via Hessian eigenvalue density", "ICML 2019", 4, "landscape/hessian-spectrum"),
    _P("papyan2019", "Vardan Papyan", 2019, "Measurements of three-level hierarchical structure in the outliers in the spectrum of deepnet Hessians", "ICML 2019", 4, "landscape/hessian-spectrum"),
    _P("garipov2018", "Timur Garipov, Pavel Izmailov, Dmitrii Podoprikhin, Dmitry Vetrov, Andrew Gordon Wilson", 2018, "Loss surfaces, mode connectivity, and fast ensembling of DNNs", "NeurIPS 2018", 4, "landscape/mode-connectivity"),
    _P("frankle2020", "Jonathan Frankle, Gintare Karolina Dziugaite, Daniel M. Roy, Michael Carbin", 2020, "Linear mode connectivity and the lottery ticket hypothesis", "ICML 2020", 4, "landscape/linear-mode-connectivity"),
    _P("entezari2021", "Rahim Entezari, Hanie Sedghi, Olga Saukh, Behnam Neyshabur", 2021, "The role of permutation invariance in linear mode connectivity of neural networks", "ICLR 2022 (arXiv:2110.06296)", 4, "landscape/permutation-invariance"),
    _P("ainsworth2022", "Samuel K. Ainsworth, Jonathan Hayase, Siddhartha Srinivasa", 2022, "Git Re-Basin: merging models modulo permutation symmetries", "ICLR 2023 (arXiv:2209.04836)", 4, "landscape/git-rebasin"),
    _P("jordan2023", "Keller Jordan, Hanie Sedghi, Olga Saukh, Rahim Entezari, Behnam Neyshabur", 2023, "REPAIR: REnormalizing Permuted Activations for Interpolation Repair", "ICLR 2023 (arXiv:2211.08403)", 4, "landscape/rebasin-renormalization"),
    _P("qu2024", "Xingyu Qu, Samuel Horvath", 2024, "Rethink model re-basin and the linear mode connectivity", "arXiv:2402.05966", 4, "landscape/rebasin-renormalization"),
    _P("raghu2017", "Maithra Raghu, Justin Gilmer, Jason Yosinski, Jascha Sohl-Dickstein", 2017, "SVCCA: singular vector canonical correlation analysis for deep learning dynamics and interpretability", "NeurIPS 2017", 4, "representations/svcca"),
    _P("kornblith2019", "Simon Kornblith, Mohammad Norouzi, Honglak Lee, Geoffrey Hinton", 2019, "Similarity of neural network representations revisited", "ICML 2019", 4, "representations/cka-correspondence"),
    # Lecture 5: sparse coding
    _P("olshausen1996", "Bruno A. Olshausen, David J. Field", 1996, "Emergence of simple-cell receptive field properties by learning a sparse code for natural images", "Nature 381:607-609", 5, "sparse-coding/natural-image-dictionary"),
    _P("papyan2017ml", "Vardan Papyan, Yaniv Romano, Michael Elad", 2017, "Convolutional neural networks analyzed via convolutional sparse coding", "JMLR 18(83):1-52", 5, "sparse-coding/ml-csc-pursuit"),
    _P("papyan2017csc", "Vardan Papyan, Jeremias Sulam, Michael Elad", 2017, "Working locally thinking globally: theoretical guarantees for convolutional sparse coding", "IEEE Transactions on Signal Processing 65(21):5687-5701", 5, "sparse-coding/csc-local-global"),
    _P("zeiler2010", "Matthew D. Zeiler, Dilip Krishnan, Graham W. Taylor, Rob Fergus", 2010, "Deconvolutional networks", "CVPR 2010", 5, "sparse-coding/deconvolutional-network"),
    _P("zhang2021", "Zhenyu Zhang, Shuai Zhang", 2021, "Towards understanding residual and dilated dense neural networks via convolutional sparse coding", "National Science Review 8(3)", 5, "sparse-coding/residual-as-pursuit"),
    _P("pelt2018", "Daniel M. Pelt, James A. Sethian", 2018, "A mixed-scale dense convolutional neural network for image analysis", "PNAS 115(2):254-259", 5, "sparse-coding/mixed-scale-dense"),
    _P("li2022", "Mingyang Li, Pengyuan Zhai, Shengbang Tong, Xingjian Gao, Shao-Lun Huang, Zhihui Zhu, Chong You, Yi Ma", 2022, "Revisiting sparse convolutional model for visual recognition", "NeurIPS 2022", 5, "sparse-coding/sparse-dictionary-network"),
    # Lecture 8: neural tangent kernel
    _P("jacot2018", "Arthur Jacot, Franck Gabriel, Clement Hongler", 2018, "Neural tangent kernel: convergence and generalization in neural networks", "NeurIPS 2018", 8, "ntk/kernel-convergence"),
    _P("arora2019fine", "Sanjeev Arora, Simon S. Du, Wei Hu, Zhiyuan Li, Ruosong Wang", 2019, "Fine-grained analysis of optimization and generalization for overparameterized two-layer neural networks", "ICML 2019", 8, "ntk/fine-grained"),
    _P("lee2019", "Jaehoon Lee, Lechao Xiao, Samuel S. Schoenholz, Yasaman Bahri, Roman Novak, Jascha Sohl-Dickstein, Jeffrey Pennington", 2019, "Wide neural networks of any depth evolve as linear models under gradient descent", "NeurIPS 2019", 8, "ntk/linearized-dynamics"),
    _P("arora2019exact", "Sanjeev Arora, Simon S. Du, Wei Hu, Zhiyuan Li, Ruslan Salakhutdinov, Ruosong Wang", 2019, "On exact computation with an infinitely wide neural net", "NeurIPS 2019", 8, "ntk/exact-cntk"),
    _P("hu2020", "Wei Hu, Zhiyuan Li, Dingli Yu", 2020, "Simple and effective regularization methods for training on noisily labeled data with generalization guarantee", "ICLR 2020", 8, "ntk/noisy-labels"),
]
_dup = sorted({p.key for p in _ENTRIES if sum(q.key == p.key for q in _ENTRIES) > 1})
if _dup:  # a repeated key would silently replace an entry
    raise RuntimeError(f"bibliography: duplicate paper keys {_dup}")
PAPERS: dict[str, Paper] = {p.key: p for p in _ENTRIES}


def get(key: str) -> Paper:
    if key not in PAPERS:
        raise KeyError(f"unknown paper key '{key}'; known: {', '.join(sorted(PAPERS))}")
    return PAPERS[key]


def status(paper: Paper) -> str:
    """'implemented' when the paper's experiment is registered, 'planned' otherwise, '-' for references."""
    from dltheory.experiments import registry

    if paper.experiment is None:
        return "-"
    registry.discover()
    return "implemented" if paper.experiment in {e.id for e in registry.all_experiments()} else "planned"
